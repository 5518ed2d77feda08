// Migration: a tenant admin adds a data source of kind imgarc through the page (a second
// real imgarcd that run_console.py started and filled with three bills), tests its
// connection (and sees the error of a data source with a wrong secret), disables and
// enables it, creates a batch and starts it, watches it reach "done" through the page's
// polling, reads the bills (completeness per category, the state filter, "do not
// migrate" of a migrated bill changing nothing) and the log, and downloads the log's CSV.
import {expect, test} from '@playwright/test';
import {readFileSync} from 'node:fs';
import {fillLogin, seed, shot, watch} from './fixtures.mjs';

const env = (n) => {
    if (!process.env[n]) {
        throw new Error(`${n} is not set: run the spec through tests/console/run_console.py`);
    }
    return process.env[n];
};

test.describe.configure({mode: 'serial'});

let problems;
test.beforeEach(async ({page}) => {
    problems = watch(page);
    await page.goto('/');
    await expect(page).toHaveURL(/#\/login/);
    await fillLogin(page, {user: env('IMGARC_SEED_ADMIN'), password: seed.password});
    await expect(page.getByTestId('who')).toBeVisible();
});
test.afterEach(() => {
    expect(problems).toEqual([]);
});

test('data sources: add one, test it, a wrong secret, disable, enable, delete', async ({page}) => {
    await page.goto('/#/admin/datasources');
    await expect(page.getByTestId('tab-datasources')).toHaveAttribute('aria-current', 'page');
    const rows = page.getByTestId('datasource-row');
    await expect(rows).toHaveCount(1);
    // The seeded data source with a wrong secret: the test names what failed.
    await page.getByTestId('test-wrong').click();
    await expect(page.getByTestId('ds-test-fail')).toBeVisible();
    await expect(page.getByTestId('ds-test-fail')).toContainText('wrong');
    await expect(page.getByTestId('ds-test-fail')).not.toContainText('not-the-secret');
    await shot(page, 'migration-datasource-test-failed');

    // Add the real one: the vendor form has other fields, imgarc's is the default.
    await page.getByTestId('nd-kind').selectOption('vendor');
    await expect(page.getByTestId('nd-app_secret')).toHaveAttribute('type', 'password');
    await expect(page.getByTestId('nd-client_id')).toHaveCount(0);
    await page.getByTestId('nd-kind').selectOption('imgarc');
    await page.getByTestId('nd-name').fill('old-imaging');
    await page.getByTestId('nd-url').fill(env('IMGARC_SEED_SRC_URL'));
    await page.getByTestId('nd-tenant').fill(seed.tenant);
    await page.getByTestId('nd-client_id').fill(env('IMGARC_SEED_SRC_CLIENT'));
    await expect(page.getByTestId('nd-client_secret')).toHaveAttribute('type', 'password');
    await page.getByTestId('nd-client_secret').fill(env('IMGARC_SEED_SRC_SECRET'));
    await page.getByTestId('create-datasource').click();
    await expect(page.getByTestId('adm-ok')).toContainText('old-imaging');
    await expect(rows).toHaveCount(2);
    // The secret is never shown back, not even in the form.
    await expect(page.locator('body')).not.toContainText(env('IMGARC_SEED_SRC_SECRET'));
    await expect(page.getByTestId('nd-client_secret')).toHaveValue('');

    await page.getByTestId('test-old-imaging').click();
    await expect(page.getByTestId('ds-test-ok')).toContainText('old-imaging');
    await expect(page.getByTestId('ds-test-ok')).toContainText('MIG-UI-');
    await shot(page, 'migration-datasources');

    // Disable, enable.
    await page.getByTestId('toggle-old-imaging').click();
    await expect(rows.filter({hasText: 'old-imaging'})).toHaveAttribute('data-state', 'disabled');
    await page.getByTestId('toggle-old-imaging').click();
    await expect(rows.filter({hasText: 'old-imaging'})).toHaveAttribute('data-state', 'enabled');

    // Delete the wrong one (asked first; "no" keeps it).
    await page.getByTestId('delete-wrong').click();
    await page.getByTestId('confirm-no').click();
    await expect(rows).toHaveCount(2);
    await page.getByTestId('delete-wrong').click();
    await page.getByTestId('confirm-yes').click();
    await expect(rows).toHaveCount(1);
    await expect(rows).toContainText('old-imaging');
});

test('a batch: create, start, done, bills, log and its CSV', async ({page}) => {
    const bills = env('IMGARC_SEED_SRC_BILLS').split(',');
    await page.goto('/#/admin/migrations');
    await expect(page.getByTestId('tab-migrations')).toHaveAttribute('aria-current', 'page');
    await page.getByTestId('nm-no').fill('2026-UI');
    await expect(page.getByTestId('nm-ds')).toHaveValue('old-imaging');
    await page.getByTestId('nm-from').fill('2020-01-01');
    await page.getByTestId('create-migration').click();
    await expect(page).toHaveURL(/#\/admin\/migrations\/2026-UI$/);
    await expect(page.getByTestId('mg-state')).toHaveAttribute('data-state', 'pending');
    await expect(page.getByTestId('mg-log-row')).toHaveCount(1);
    await expect(page.getByTestId('mg-pause')).toHaveCount(0);

    await page.getByTestId('mg-start').click();
    // The page polls while it runs; no reload here.
    await expect(page.getByTestId('mg-state')).toHaveAttribute('data-state', 'done',
                                                              {timeout: 60000});
    await expect(page.getByTestId('mg-counts')).toContainText(`${bills.length} `);
    await expect(page.getByTestId('mg-progress')).toHaveAttribute('value', String(bills.length));
    await expect(page.getByTestId('mg-progress')).toHaveAttribute('max', String(bills.length));
    await expect(page.getByTestId('mg-retry')).toBeVisible();
    await expect(page.getByTestId('mg-start')).toHaveCount(0);

    const rows = page.getByTestId('mg-bill-row');
    await expect(rows).toHaveCount(bills.length);
    for (const no of bills) {
        const r = rows.filter({has: page.getByTestId('pick-' + no)});
        await expect(r).toHaveAttribute('data-state', 'migrated');
        await expect(r.getByTestId('complete')).toContainText('cover ✓');
        await expect(r.getByTestId('complete')).toContainText('attachment ✓');
    }
    const log = (action) => page.locator(`[data-testid=mg-log-row][data-state=${action}]`);
    await expect(log('migrated')).toHaveCount(bills.length);
    await expect(log('done')).toHaveCount(1);
    await expect(log('started')).toHaveCount(1);
    await shot(page, 'migration-batch-done');
    await page.getByTestId('mg-log').scrollIntoViewIfNeeded();
    await shot(page, 'migration-batch-log');

    // The state filter: no failed bill.
    await page.getByTestId('mb-state').selectOption('failed');
    await expect(rows).toHaveCount(0);
    await page.getByTestId('mb-state').selectOption('migrated');
    await expect(rows).toHaveCount(bills.length);
    // "Do not migrate" changes nothing of a bill moved already.
    await page.getByTestId('pick-' + bills[0]).check();
    await page.getByTestId('mg-skip').click();
    await expect(page.getByTestId('adm-ok')).toContainText('0 bill');
    await expect(rows.first()).toHaveAttribute('data-state', 'migrated');

    // The log as CSV: fetched with the token, saved from a blob: URL.
    const [download] = await Promise.all([page.waitForEvent('download'),
                                          page.getByTestId('mg-csv').click()]);
    expect(download.suggestedFilename()).toBe('migration-2026-UI-log.csv');
    const csv = readFileSync(await download.path(), 'utf8');
    const lines = csv.trim().split('\n');
    expect(lines[0]).toContain('seq,time,operator,action,image_no,detail');
    expect(csv).toContain('"started"');
    expect(csv).toContain('"' + bills[2] + '"');
    expect(await page.getByTestId('mg-csv-link').getAttribute('href')).toMatch(/^blob:/);

    // Paging on next_after, two rows a page (?per=2).
    await page.goto('/#/admin/migrations/2026-UI?per=2');
    await expect(rows).toHaveCount(2);
    await expect(page.getByTestId('mb-prev')).toBeDisabled();
    await page.getByTestId('mb-next').click();
    await expect(rows).toHaveCount(1);
    await expect(rows).toHaveAttribute('data-image-no', [...bills].sort()[2]);
    await page.getByTestId('mb-prev').click();
    await expect(rows).toHaveCount(2);
    await expect(page.getByTestId('mg-log-row')).toHaveCount(2);
    await page.getByTestId('ml-next').click();
    await expect(page.getByTestId('mg-log-row').first().locator('td').first()).toHaveText('3');

    // The list shows the batch done with its counts.
    await page.getByTestId('back-batches').click();
    const b = page.getByTestId('migration-row');
    await expect(b).toHaveCount(1);
    await expect(b).toHaveAttribute('data-state', 'done');
    await shot(page, 'migration-batches');
    // Back to the batch from the list.
    await page.getByTestId('open-2026-UI').click();
    await expect(page.getByTestId('mg-state')).toHaveAttribute('data-state', 'done');
});

test('a batch cancelled before it starts, then taken up again with Retry', async ({page}) => {
    await page.goto('/#/admin/migrations');
    await page.getByTestId('nm-no').fill('2026-UI-BJ');
    await page.getByTestId('nm-orgs').fill('bj');
    await page.getByTestId('create-migration').click();
    await expect(page).toHaveURL(/#\/admin\/migrations\/2026-UI-BJ$/);
    await expect(page.getByTestId('mg-state')).toHaveAttribute('data-state', 'pending');
    await page.getByTestId('mg-cancel').click();
    await expect(page.getByTestId('mg-state')).toHaveAttribute('data-state', 'failed');
    await expect(page.getByTestId('mg-error')).toContainText('cancelled by');
    await expect(page.getByTestId('mg-start')).toHaveCount(0);
    await shot(page, 'migration-batch-cancelled');
    await page.getByTestId('mg-retry').click();
    await expect(page.getByTestId('mg-state')).toHaveAttribute('data-state', 'done',
                                                              {timeout: 60000});
    await expect(page.getByTestId('mg-error')).toHaveCount(0);
    // Only the organisation bj's bill, found here already from the same source.
    await expect(page.getByTestId('mg-bill-row')).toHaveCount(1);
    await expect(page.locator('[data-testid=mg-log-row][data-state=cancelled]')).toHaveCount(1);
    await expect(page.locator('[data-testid=mg-log-row][data-state=retried]')).toHaveCount(1);
});
