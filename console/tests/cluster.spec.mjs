// The operator: the sign-in page's Operator tab (the operator token exchanged for a
// short one, the only one kept), the cluster view on a node whose id is above 2^53
// (every digit shown), drain and undrain, the 5 s refresh that stops when the page is
// left, and the tenant picker with a new tenant.
import {expect, test} from '@playwright/test';
import {shot, watch} from './fixtures.mjs';

const opToken = () => {
    const v = process.env.IMGARC_SEED_OPERATOR_TOKEN;
    if (!v) {
        throw new Error('IMGARC_SEED_OPERATOR_TOKEN is not set: run through run_console.py');
    }
    return v;
};

let problems;
test.beforeEach(async ({page}) => {
    problems = watch(page);
});
test.afterEach(() => {
    expect(problems).toEqual([]);
});

async function operatorSignIn(page, token) {
    await page.goto('/');
    await expect(page).toHaveURL(/#\/login/);
    await page.getByTestId('tab-operator').click();
    await page.locator('#op-token').fill(token);
    await page.getByTestId('op-sign-in').click();
}

test('the operator signs in with a short token and sees the cluster', async ({page}) => {
    await operatorSignIn(page, 'not-the-operator-token');
    await expect(page.getByTestId('op-error')).toHaveText('Wrong operator token.');
    await expect(page.locator('#op-token')).toHaveValue('');

    await operatorSignIn(page, opToken());
    await expect(page).toHaveURL(/#\/cluster/);
    // Only the short token is kept, in sessionStorage; never the operator token.
    const stored = await page.evaluate(() => JSON.stringify({...sessionStorage}) +
                                       JSON.stringify({...localStorage}));
    expect(stored).not.toContain(opToken());
    expect(stored).toContain('imgarc1.');

    const nodeId = (await (await page.request.get('/api/v1/version')).json()).node_id;
    expect(nodeId).toBe('9007199254740993');
    const row = page.getByTestId('cl-node');
    await expect(row).toHaveCount(1);
    await expect(row.getByTestId('cl-node-id')).toHaveText(nodeId);
    await expect(page.getByTestId('cl-leader')).toContainText(nodeId);
    await expect(row).toHaveAttribute('data-state', 'ok');
    await expect(page.getByTestId('cl-under')).toContainText('Under-replicated blobs: 0');
    await expect(page.getByTestId('version')).toContainText(`node ${nodeId}`);
    await shot(page, 'cluster');

    // Drain and undrain, each behind a confirmation.
    await page.getByTestId('drain-' + nodeId).click();
    await page.getByTestId('confirm-no').click();
    await expect(row.getByTestId('cl-storage')).toHaveText('active');
    await page.getByTestId('drain-' + nodeId).click();
    await page.getByTestId('confirm-yes').click();
    await expect(page.getByTestId('cl-ok')).toHaveText(`Node ${nodeId}: storage draining.`);
    await expect(row.getByTestId('cl-storage')).toHaveText('draining');
    await page.getByTestId('undrain-' + nodeId).click();
    await page.getByTestId('confirm-yes').click();
    await expect(row.getByTestId('cl-storage')).toHaveText('active');
});

test('the view refreshes every 5 s while open, and not once left', async ({page}) => {
    await operatorSignIn(page, opToken());
    await expect(page.getByTestId('cl-node')).toHaveCount(1);
    let calls = 0;
    page.on('request', (r) => {
        if (new URL(r.url()).pathname === '/api/v1/cluster') {
            calls++;
        }
    });
    await page.waitForTimeout(11_000);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThanOrEqual(3);
    await page.getByRole('link', {name: 'Bills'}).click();
    await expect(page).toHaveURL(/#\/bills/);
    const at = calls;
    await page.waitForTimeout(6_000);
    expect(calls).toBe(at);
});

test('the operator picks a tenant and creates one', async ({page}) => {
    await operatorSignIn(page, opToken());
    await page.getByTestId('nav-admin').click();
    await page.getByTestId('tab-tenants').click();
    await expect(page.getByTestId('tenant-current')).toBeVisible();
    await page.locator('#nt-id').fill('acme');
    await page.locator('#nt-name').fill('ACME Trading');
    await page.getByTestId('create-tenant').click();
    await expect(page.getByTestId('adm-ok')).toHaveText('Tenant acme created.');
    await page.getByTestId('pick-acme').click();
    await expect(page).toHaveURL(/#\/admin\/users/);
    await expect(page.getByTestId('adm-tenant')).toContainText('acme');
    // acme's users: none yet; a user created here belongs to acme.
    await expect(page.getByTestId('user-row')).toHaveCount(0);
    await page.locator('#nu-username').fill('acme-admin');
    await page.locator('#nu-password').fill('acme-Passw0rd-1');
    await page.getByTestId('nu-role-tenant_admin').check();
    await page.getByTestId('create-user').click();
    await expect(page.getByTestId('user-row')).toHaveCount(1);
    const r = await page.request.get('/api/v1/users?tenant=acme',
                                     {headers: {Authorization: 'Bearer ' + opToken()}});
    expect((await r.json()).users.map((u) => u.username)).toEqual(['acme-admin']);
});
