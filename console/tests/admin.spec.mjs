// Tenant administration: an admin creates organisations A and B and a user ann granted
// A only; ann sees A's bill and not B's (not even by its URL). Then roles, a password
// reset (ann's old session ends), disable and enable, unlock; a client's secret shown
// once, then rotated; a webhook and the retry of a failed delivery; a bill type and
// scheme; a category; usage, license and the audit log with its CSV export; a legal
// hold placed and lifted on a bill's page.
import {expect, test} from '@playwright/test';
import {fillLogin, seed, shot, watch} from './fixtures.mjs';

const env = (n) => {
    if (!process.env[n]) {
        throw new Error(`${n} is not set: run the spec through tests/console/run_console.py`);
    }
    return process.env[n];
};
const admin = () => env('IMGARC_SEED_ADMIN');
const billA = () => env('IMGARC_SEED_BILL_A');
const billB = () => env('IMGARC_SEED_BILL_B');
const ANN_PW = 'ann-Passw0rd-1';
const ANN_PW2 = 'ann-Passw0rd-2';

test.describe.configure({mode: 'serial'});

let problems;
test.beforeEach(async ({page}) => {
    problems = watch(page);
});
test.afterEach(() => {
    expect(problems).toEqual([]);
});

async function signInAs(page, user, password) {
    await page.goto('/');
    await expect(page).toHaveURL(/#\/login/);
    await fillLogin(page, {user, password});
    await expect(page.getByTestId('who')).toBeVisible();
}

async function confirm(page) {
    await expect(page.getByTestId('confirm')).toBeVisible();
    await page.getByTestId('confirm-yes').click();
}

async function openUser(page, name) {
    const to = '/#/admin/users/' + name;
    if (page.url().endsWith(to.slice(1))) {
        await page.reload(); // the same hash: goto() would not draw the page again
    } else {
        await page.goto(to);
    }
    await expect(page.getByTestId('edit-user')).toBeVisible();
}

test('organisations and grants: ann sees only the bills of A', async ({page, browser}) => {
    await signInAs(page, admin(), seed.password);
    await page.getByTestId('nav-admin').click();
    await expect(page).toHaveURL(/#\/admin\/users/);
    await page.getByTestId('tab-orgs').click();
    for (const [id, name] of [['org-a', 'Branch A'], ['org-b', 'Branch B'],
                              ['org-c', 'Branch C']]) {
        await page.locator('#no-id').fill(id);
        await page.locator('#no-name').fill(name);
        await page.getByTestId('create-org').click();
        await expect(page.getByTestId('org-' + id)).toContainText(name);
    }
    // Rename and move: C goes under A as "Branch C (A)".
    await page.getByTestId('edit-org-org-c').click();
    await page.getByTestId('org-name-org-c').fill('Branch C (A)');
    await page.getByTestId('org-parent-org-c').selectOption('org-a');
    await page.getByTestId('save-org-org-c').click();
    await expect(page.getByTestId('adm-ok')).toHaveText('Saved.');
    const tree = page.getByTestId('org-tree');
    await expect(tree.locator('li')).toHaveText([/Branch A/, /Branch C \(A\)/, /Branch B/]);

    await page.getByTestId('tab-users').click();
    await page.locator('#nu-username').fill('ann');
    await page.locator('#nu-name').fill('Ann Scanner');
    await page.locator('#nu-password').fill(ANN_PW);
    await page.getByTestId('create-user').click();
    await expect(page.getByTestId('adm-ok')).toHaveText('User ann created.');
    const annRow = page.getByTestId('user-row').filter({hasText: 'Ann Scanner'});
    await expect(annRow).toContainText('scanner');
    await expect(annRow).toContainText('none (sees no bills)');
    await annRow.getByRole('link', {name: 'ann'}).click();
    await page.getByTestId('grant-org-a').check();
    await page.getByTestId('save-grants').click();
    await expect(page.getByTestId('adm-ok')).toHaveText('Saved.');
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, 'admin-user-edit');
    await page.getByTestId('tab-users').click();
    await expect(annRow).toContainText('org-a and below');
    await shot(page, 'admin-users');

    const ctx = await browser.newContext();
    const ann = await ctx.newPage();
    const annProblems = watch(ann);
    await signInAs(ann, 'ann', ANN_PW);
    await expect(ann.getByTestId('nav-admin')).toHaveCount(0);
    await expect(ann.getByTestId('bill-row')).toHaveCount(1);
    await expect(ann.getByTestId('bill-row')).toContainText(billA());
    await ann.goto('/#/bills/' + billB());
    await expect(ann.getByTestId('error')).toContainText(`No bill ${billB()}`);
    // The administration pages are not for ann.
    await ann.goto('/#/admin/users');
    await expect(ann.getByTestId('not-allowed')).toBeVisible();
    expect(annProblems).toEqual([]);
    await ctx.close();
});

test('roles, a password reset, disable and enable, unlock', async ({page, browser}) => {
    await signInAs(page, admin(), seed.password);
    await page.goto('/#/admin/roles');
    await page.locator('#nr-name').fill('auditor');
    await page.getByTestId('nr-perm-review').check();
    await page.getByTestId('create-role').click();
    await expect(page.getByTestId('adm-ok')).toHaveText('Role auditor created.');
    const row = page.getByTestId('role-row').filter({hasText: 'auditor'});
    await expect(row).toContainText('read, review');
    await page.getByTestId('edit-role-auditor').click();
    await page.getByTestId('er-auditor-match').check();
    await page.getByTestId('save-role-auditor').click();
    await expect(row).toContainText('read, match, review');

    // ann signed in; new roles end that session.
    const ctx = await browser.newContext();
    const ann = await ctx.newPage();
    await signInAs(ann, 'ann', ANN_PW);
    await openUser(page, 'ann');
    await page.getByTestId('eu-role-auditor').check();
    await page.getByTestId('save-user').click();
    await expect(page.getByTestId('adm-ok')).toHaveText('Saved.');
    await ann.reload();
    await expect(ann).toHaveURL(/#\/login/);
    await expect(ann.getByTestId('login-message')).toContainText('Your session has ended');

    // A role in use cannot go: 409 role_in_use names ann.
    await page.goto('/#/admin/roles');
    await page.getByTestId('delete-role-auditor').click();
    await confirm(page);
    await expect(page.getByTestId('error')).toContainText('ann');

    // Reset the password: ann's session ends, the new password works.
    await signInAs(ann, 'ann', ANN_PW);
    await openUser(page, 'ann');
    await page.locator('#eu-password').fill(ANN_PW2);
    await page.getByTestId('do-reset').click();
    await confirm(page);
    await expect(page.getByTestId('adm-ok')).toContainText('was reset');
    await ann.reload();
    await expect(ann).toHaveURL(/#\/login/);
    await signInAs(ann, 'ann', ANN_PW2);

    // Disable: sessions end, sign-in refused; enable: sign-in works again.
    await page.getByTestId('toggle-disabled').click();
    await confirm(page);
    await expect(page.getByTestId('adm-ok')).toContainText('ann is disabled');
    await expect(page.getByTestId('user-state')).toContainText('Disabled');
    await ann.reload();
    await expect(ann).toHaveURL(/#\/login/);
    await fillLogin(ann, {user: 'ann', password: ANN_PW2});
    await expect(ann.getByTestId('login-message')).toContainText('disabled');
    await page.getByTestId('toggle-disabled').click();
    await expect(page.getByTestId('adm-ok')).toContainText('ann is enabled again');
    await signInAs(ann, 'ann', ANN_PW2);

    // Locked by wrong passwords, then unlocked.
    for (let i = 0; i < Number(env('IMGARC_SEED_LOCK_FAILURES')); i++) {
        const r = await page.request.post('/api/v1/auth/login',
                                          {data: {username: 'ann', password: 'wrong-' + i}});
        expect(r.status()).toBe(401);
    }
    // The failures are committed through raft after the answers: look until it shows.
    await expect(async () => {
        await openUser(page, 'ann');
        await expect(page.getByTestId('user-state')).toContainText('Locked until',
                                                                   {timeout: 500});
    }).toPass({timeout: 10_000});
    await page.goto('/#/admin/users');
    await expect(page.getByTestId('user-row').filter({hasText: 'Ann Scanner'}))
        .toContainText('Locked until');
    await openUser(page, 'ann');
    await page.getByTestId('unlock').click();
    await expect(page.getByTestId('adm-ok')).toHaveText('ann is unlocked.');
    await expect(page.getByTestId('user-state')).toContainText('Active');
    await signInAs(ann, 'ann', ANN_PW2);
    await ctx.close();
});

test('a client secret shown once, then rotated', async ({page}) => {
    await signInAs(page, admin(), seed.password);
    await page.goto('/#/admin/clients');
    await page.locator('#nc-name').fill('ERP production');
    await page.getByTestId('create-client').click();
    const box = page.getByTestId('client-secret');
    await expect(box).toContainText('shown only once');
    await expect(box.getByTestId('copy-secret')).toBeVisible();
    const secret = await box.getByTestId('secret').textContent();
    const row = page.getByTestId('client-row').filter({hasText: 'ERP production'});
    const id = (await row.locator('code').textContent()).trim();
    await shot(page, 'admin-clients-secret');
    const token = (s) => page.request.post('/api/v1/auth/token',
                                           {data: {client_id: id, client_secret: s}});
    expect((await token(secret)).status()).toBe(200);
    // Shown once: gone when the page is opened again.
    await page.goto('/#/admin/users');
    await page.goto('/#/admin/clients');
    await expect(page.getByTestId('client-row')).toHaveCount(1);
    await expect(page.getByTestId('client-secret')).toHaveCount(0);
    await page.getByTestId('rotate-' + id).click();
    await confirm(page);
    await expect(page.getByTestId('secret-area')).toContainText('was rotated');
    const fresh = await page.getByTestId('client-secret').getByTestId('secret').textContent();
    expect(fresh).not.toBe(secret);
    expect((await token(secret)).status()).toBe(401);
    expect((await token(fresh)).status()).toBe(200);
    await page.getByTestId('delete-' + id).click();
    await confirm(page);
    await expect(page.getByTestId('client-row')).toHaveCount(0);
});

test('webhooks and deliveries, bill types and schemes, categories', async ({page}) => {
    await signInAs(page, admin(), seed.password);
    await page.goto('/#/admin/webhooks');
    await page.locator('#nw-url').fill(env('IMGARC_SEED_HOOK_URL'));
    await page.getByTestId('create-webhook').click();
    await expect(page.getByTestId('webhook-secret')).toContainText('shown only once');
    const hook = page.getByTestId('webhook-row').filter({hasText: env('IMGARC_SEED_HOOK_URL')});
    await expect(hook).toContainText('ready');
    // The seeded delivery to a refused port failed; Retry puts it back in the outbox.
    const failed = page.locator('[data-testid="delivery-row"][data-state="failed"]');
    await expect(failed).toHaveCount(1);
    await expect(failed).toContainText('captured');
    await failed.getByRole('button', {name: 'Retry'}).click();
    await expect(page.locator('[data-testid="delivery-row"][data-state="pending"],' +
                              '[data-testid="delivery-row"][data-state="failed"]')).toHaveCount(1);
    const hookId = (await hook.locator('code').textContent()).trim();
    await page.getByTestId('delete-webhook-' + hookId).click();
    await confirm(page);
    await expect(hook).toHaveCount(0);

    await page.getByTestId('tab-types').click();
    await page.locator('#bt-code').fill('travel-x');
    await page.locator('#bt-name').fill('Travel claims');
    await page.locator('#bt-mode').selectOption('match');
    await page.getByTestId('save-type').click();
    await expect(page.getByTestId('type-row').filter({hasText: 'travel-x'})).toContainText('match');
    await page.locator('#sc-type').selectOption('travel-x');
    await page.locator('#sc-org').selectOption('org-a');
    await page.locator('#sc-match').selectOption('standard');
    await page.locator('#sc-submit').selectOption('auto');
    await page.getByTestId('save-scheme').click();
    await expect(page.getByTestId('scheme-row').filter({hasText: 'travel-x'}))
        .toContainText(/org-a.*standard.*automatic/);

    await page.getByTestId('tab-categories').click();
    await page.locator('#cat-code').fill('contract');
    await page.locator('#cat-name').fill('Contracts');
    await page.getByTestId('save-category').click();
    await expect(page.getByTestId('category-row')).toContainText(['contract']);
});

test('usage, license and the audit log with its CSV export', async ({page}) => {
    await signInAs(page, admin(), seed.password);
    await page.goto('/#/admin/usage');
    // The default tenant's evaluation license: 10 GiB, far from 80%.
    await expect(page.getByTestId('usage')).toContainText('of 10 GiB used (0%)');
    await expect(page.getByTestId('usage')).toHaveAttribute('data-state', 'ok');
    await expect(page.getByTestId('usage-by-org')).toContainText('org-a');
    await page.getByTestId('tab-license').click();
    await expect(page.getByTestId('days-left')).toContainText(/\d+ days left \(expires /);
    await page.getByTestId('tab-audit').click();
    const rows = page.getByTestId('audit-row');
    await expect(rows.filter({hasText: 'client_secret_rotated'})).toHaveCount(1);
    await expect(rows.filter({hasText: 'delivery_retried'})).toHaveCount(1);
    await expect(rows.filter({hasText: 'password_reset'})).toHaveCount(1);
    const [download] = await Promise.all([page.waitForEvent('download'),
                                          page.getByTestId('export-csv').click()]);
    expect(download.suggestedFilename()).toBe('audit-default.csv');
    const path = await download.path();
    const {readFileSync} = await import('node:fs');
    const csv = readFileSync(path, 'utf8');
    expect(csv).toContain('client_secret_rotated');
    expect(csv.split('\n')[0]).toContain('action');
});

test('a legal hold placed with a reason, refusing a deletion, then lifted', async ({page}) => {
    await signInAs(page, admin(), seed.password);
    await page.goto(`/#/bills/${billA()}`);
    const box = page.getByTestId('panel-holds');
    await expect(box.getByTestId('holds-state')).toContainText('No legal hold');
    // A reason is needed.
    await box.getByTestId('hold-place').click();
    await expect(box.getByTestId('hold-msg')).toContainText('Give a reason.');
    await box.getByTestId('hold-reason').fill('tax audit 2026-04');
    await box.getByTestId('hold-place').click();
    await expect(box.getByTestId('holds-state')).toContainText('Under 1 legal hold');
    const hold = box.getByTestId('hold');
    await expect(hold).toContainText('tax audit 2026-04');
    await expect(hold).toContainText('placed by user:boss');
    const id = await hold.getAttribute('data-hold-id');
    expect(id).toMatch(/^h[0-9a-f]{16}$/);
    // Deleting a file of the held bill is refused, for the admin too.
    const files = await page.evaluate(async (no) => {
        const s = JSON.parse(sessionStorage.getItem('imgarc.session'));
        const r = await fetch(`/api/v1/bills/${no}`,
                              {headers: {Authorization: 'Bearer ' + s.token}});
        return (await r.json()).files.map((f) => f.file_id);
    }, billA());
    expect(files.length).toBe(1);
    const status = await page.evaluate(async ([no, f]) => {
        const s = JSON.parse(sessionStorage.getItem('imgarc.session'));
        const r = await fetch(`/api/v1/bills/${no}/files/${f}`,
                              {method: 'DELETE', headers: {Authorization: 'Bearer ' + s.token}});
        return [r.status, (await r.json()).error];
    }, [billA(), files[0]]);
    expect(status).toEqual([409, 'bill_held']);
    await box.getByTestId('hold-lift-' + id).click();
    await expect(box.getByTestId('holds-state')).toContainText('No legal hold');
    await expect(page.getByTestId('log')).toContainText('hold_lifted');
});
