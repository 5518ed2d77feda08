// Signing in and out: a good sign-in, a wrong password, the lock after the node's
// --login-max-failures wrong passwords, sign-out (the token is dead on the node), and
// a 401 taking the user back to the sign-in page.
import {expect, test} from '@playwright/test';
import {fillLogin, seed, shot, signIn, watch} from './fixtures.mjs';

const sessionToken = (page) =>
    page.evaluate(() => JSON.parse(sessionStorage.getItem('imgarc.session')).token);

let problems;
test.beforeEach(({page}) => {
    problems = watch(page);
});
test.afterEach(() => {
    expect(problems).toEqual([]);
});

test('the sign-in page, then a good sign-in lands on the bill list', async ({page}) => {
    await page.goto('/');
    await expect(page).toHaveURL(/#\/login/);
    await expect(page.locator('h1')).toHaveText('Sign in to imgarc');
    // The footer: the node's version and its 64-bit id, every digit (the answer carries
    // it as a string: JSON.parse would round a number above 2^53).
    const nodeId = (await (await page.request.get('/api/v1/version')).json()).node_id;
    expect(nodeId).toMatch(/^[0-9]+$/);
    await expect(page.getByTestId('version')).toContainText(/^imgarc \S+/);
    await expect(page.getByTestId('version')).toContainText(`node ${nodeId}`);
    await shot(page, 'login');
    await fillLogin(page, {password: seed.password});
    await expect(page).toHaveURL(/#\/bills/);
    const who = page.getByTestId('who');
    await expect(who).toContainText(seed.userName);
    await expect(who).toContainText(seed.tenant);
    await expect(who).toContainText('scanner');
    // The token is in sessionStorage only, never in localStorage.
    const stored = await page.evaluate(() => ({
        session: sessionStorage.getItem('imgarc.session'),
        local: JSON.stringify(localStorage),
    }));
    expect(JSON.parse(stored.session).token).toMatch(/^imgarc1\./);
    expect(stored.local).not.toContain('imgarc1.');
    // Permissions come from GET /api/v1/auth/me.
    expect(JSON.parse(stored.session).permissions).toEqual(
        expect.arrayContaining(['read', 'capture', 'submit']));
});

test('a wrong password says so, with the request id, and signs nobody in', async ({page}) => {
    await page.goto('/#/login');
    await fillLogin(page, {password: 'not-the-password'});
    const msg = page.getByTestId('wrong-password');
    await expect(msg).toHaveText(`Wrong user name or password for tenant ${seed.tenant}.`);
    await expect(page.getByTestId('login-message')).toContainText(/Request id: \S+/);
    await expect(page).toHaveURL(/#\/login/);
    await expect(page.locator('#password')).toHaveValue('');
    expect(await page.evaluate(() => sessionStorage.getItem('imgarc.session'))).toBeNull();
    await shot(page, 'login-wrong-password');
});

test('the account locks after the configured failures; the right password then shows until when',
     async ({page}) => {
    await page.goto('/#/login');
    for (let i = 0; i < seed.lockFailures; i++) {
        await fillLogin(page, {user: seed.lockUser, password: `wrong-${i}`});
        await expect(page.getByTestId('wrong-password')).toBeVisible();
        await page.getByTestId('login-message').evaluate((el) => el.replaceChildren());
    }
    await fillLogin(page, {user: seed.lockUser, password: seed.password});
    const locked = page.getByTestId('locked');
    await expect(locked)
        .toContainText(/This account is locked until \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/);
    await expect(locked).toContainText('ask a tenant admin to unlock it');
    await expect(page).toHaveURL(/#\/login/);
    await shot(page, 'login-locked');
});

test('too many failures from this computer: a countdown from Retry-After, then the button again',
     async ({page}) => {
    await page.goto('/#/login');
    const throttled = page.getByTestId('throttled');
    let tries = 0;
    while (tries <= seed.sourceFailures) {
        tries++;
        await fillLogin(page, {user: 'nobody-here', password: `wrong-${tries}`});
        await expect(page.getByTestId('wrong-password').or(throttled)).toBeVisible();
        if (await throttled.isVisible()) {
            break;
        }
        await page.getByTestId('login-message').evaluate((el) => el.replaceChildren());
    }
    expect(tries).toBe(seed.sourceFailures + 1);
    await expect(throttled)
        .toContainText(/Too many failed sign-ins from this computer\. Try again in [1-5] s\./);
    await expect(page.getByTestId('sign-in')).toBeDisabled();
    await shot(page, 'login-throttled');
    await expect(throttled).toHaveText('You can try again now.', {timeout: 15_000});
    await expect(page.getByTestId('sign-in')).toBeEnabled();
});

test('a user whose roles lack "read" is told so, not shown an empty list', async ({page}) => {
    await signIn(page, {user: seed.noReadUser});
    await expect(page.getByTestId('not-allowed')).toContainText('do not give the read permission');
    await expect(page.getByTestId('who')).toContainText('uploader');
    // The node refuses it too (403 naming the permission), whatever the page shows.
    const token = await sessionToken(page);
    const r = await page.request.get('/api/v1/bills',
                                     {headers: {Authorization: `Bearer ${token}`}});
    expect(r.status()).toBe(403);
});

test('sign out ends the token on the node and returns to the sign-in page', async ({page}) => {
    await signIn(page);
    const token = await sessionToken(page);
    await page.getByTestId('sign-out').click();
    await expect(page).toHaveURL(/#\/login/);
    await expect(page.getByTestId('login-message')).toHaveText('You are signed out.');
    expect(await page.evaluate(() => sessionStorage.getItem('imgarc.session'))).toBeNull();
    const r = await page.request.get('/api/v1/bills',
                                     {headers: {Authorization: `Bearer ${token}`}});
    expect(r.status()).toBe(401);
    // A page of the console now asks for a sign-in again.
    await page.goto('/#/bills');
    await expect(page).toHaveURL(/#\/login/);
});

test('a 401 from the API (a dead token) returns to sign-in and back after it', async ({page}) => {
    await signIn(page);
    await page.evaluate(() => {
        const s = JSON.parse(sessionStorage.getItem('imgarc.session'));
        s.token = 'imgarc1.eyJ9.bogus';
        sessionStorage.setItem('imgarc.session', JSON.stringify(s));
    });
    await page.goto(`/#/bills?state=captured`);
    await expect(page).toHaveURL(/#\/login\?next=/);
    await expect(page.getByTestId('login-message')).toContainText('Your session has ended');
    await fillLogin(page, {password: seed.password});
    await expect(page).toHaveURL(/#\/bills\?state=captured/);
});

test.describe('in Chinese', () => {
    test.use({locale: 'zh-CN'});

    test('the browser\'s language picks the words; the footer switches them', async ({page}) => {
        await page.goto('/');
        await expect(page.locator('h1')).toHaveText('登录 imgarc');
        await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
        await fillLogin(page, {user: 'nobody-zh', password: 'wrong'});
        await expect(page.getByTestId('wrong-password'))
            .toHaveText(`用户名或密码错误（租户 ${seed.tenant}）。`);
        await shot(page, 'login-zh');
        await page.getByTestId('lang').selectOption('en');
        await expect(page.locator('h1')).toHaveText('Sign in to imgarc');
        await page.reload();
        await expect(page.locator('h1')).toHaveText('Sign in to imgarc');
    });
});
