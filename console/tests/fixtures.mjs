// Shared by the specs: the seed data's names (set by tests/console/run_console.py),
// signing in, and screenshots under $IMGARC_SHOTS.
import {expect} from '@playwright/test';
import {mkdirSync} from 'node:fs';
import {join} from 'node:path';

function need(name) {
    const v = process.env[name];
    if (!v) {
        throw new Error(`${name} is not set: run the spec through tests/console/run_console.py`);
    }
    return v;
}

export const seed = {
    get tenant() { return need('IMGARC_SEED_TENANT'); },
    get user() { return need('IMGARC_SEED_USER'); },
    get userName() { return need('IMGARC_SEED_USER_NAME'); },
    get password() { return need('IMGARC_SEED_PASSWORD'); },
    get lockUser() { return need('IMGARC_SEED_LOCK_USER'); },
    get lockFailures() { return Number(need('IMGARC_SEED_LOCK_FAILURES')); },
    get sourceFailures() { return Number(need('IMGARC_SEED_SOURCE_FAILURES')); },
    get noReadUser() { return need('IMGARC_SEED_NOREAD_USER'); },
    get bill() { return need('IMGARC_SEED_BILL'); },
    get readyBill() { return need('IMGARC_SEED_BILL_READY'); },
    get mergedBill() { return need('IMGARC_SEED_BILL_MERGED'); },
    get poolBill() { return need('IMGARC_SEED_BILL_POOL'); },
    get eventCode() { return need('IMGARC_SEED_EVENT_CODE'); },
};

export async function fillLogin(page, {tenant = seed.tenant, user = seed.user, password}) {
    await page.locator('#tenant').fill(tenant);
    await page.locator('#username').fill(user);
    await page.locator('#password').fill(password);
    await page.getByTestId('sign-in').click();
}

export async function signIn(page, opts = {}) {
    await page.goto('/');
    await expect(page).toHaveURL(/#\/login/);
    await fillLogin(page, {password: seed.password, ...opts});
    await expect(page.getByTestId('who')).toBeVisible();
}

export async function shot(page, name) {
    const dir = process.env.IMGARC_SHOTS || 'test-results';
    mkdirSync(dir, {recursive: true});
    await page.screenshot({path: join(dir, `${name}.png`)});
}

// Collects what must never happen on a console page: a CSP violation (the console and
// pdf.js run under the node's strict CSP), an uncaught error, a dialog (alert() from
// injected markup). Check with expect(problems).toEqual([]) at the end of a test.
export function watch(page) {
    const problems = [];
    page.on('console', (m) => {
        if (/Content.Security.Policy/i.test(m.text())) {
            problems.push(`CSP: ${m.text()}`);
        }
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('dialog', (d) => {
        problems.push(`dialog: ${d.message()}`);
        d.dismiss().catch(() => {});
    });
    return problems;
}
