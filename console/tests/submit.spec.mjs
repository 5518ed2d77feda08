// Submitting and signing off (002 提交影像): situation 3 (a wrong total and an
// undeclared number) -> manual sign-off (correct the data and match again, confirm a
// match by hand, unmatch and confirm again) -> every invoice matched -> "Submit to
// ERP?" Cancel, then OK -> the ERP took it; situation 1 (auto scheme: the ERP's result
// by itself); situation 2 (manual scheme: match results, then Submit to ERP); the
// sign-off, rescanning and upload lists; a reviewer sends a bill back from its page.
import {expect, test} from '@playwright/test';
import {shot, signIn, watch} from './fixtures.mjs';

const signer = process.env.IMGARC_SEED_SIGNER;
const batch = process.env.IMGARC_SEED_BATCH;

let problems;
test.beforeEach(async ({page}) => {
    problems = watch(page);
    await signIn(page, {user: signer});
});
test.afterEach(() => {
    expect(problems).toEqual([]);
});

test('situation 3, manual sign-off, then Submit to ERP?', async ({page}) => {
    await page.goto('/#/submit/SB-3');
    await expect(page.getByTestId('reasons')).toContainText('captured but not submitted');
    await expect(page.getByTestId('bill-state')).toHaveText('Captured');
    await shot(page, 'submit-before');
    await page.getByTestId('submit').click();

    await expect(page.getByTestId('situation-3')).toBeVisible();
    const files = page.getByTestId('match-file');
    await expect(files).toHaveCount(3);
    await expect(files.nth(0)).toHaveAttribute('data-state', 'matched');
    await expect(files.nth(1).getByTestId('problem'))
        .toContainText('total amount differs from the declared invoice');
    await expect(files.nth(2).getByTestId('problem'))
        .toContainText('the bill declares no invoice with this number');
    await expect(page.getByTestId('recapture')).toHaveAttribute('href', '#/capture/SB-3');
    await shot(page, 'submit-situation-3');

    await page.getByTestId('manual-signoff').click();
    await expect(page).toHaveURL(/#\/match\/SB-3$/);
    await expect(page.getByTestId('declared-invoice')).toHaveCount(3);
    await expect(page.getByTestId('invoice-file')).toHaveCount(3);
    await expect(page.getByTestId('matched-count')).toHaveText('1 of 3 declared');
    // The scan of the file with the wrong total, next to the declared invoices.
    await page.getByTestId('invoice-file').nth(1).getByTestId('view-file').click();
    await expect(page.getByTestId('viewer-host').locator('canvas').first()).toBeVisible();
    await shot(page, 'signoff');

    // The wrong total: correct the data, and matching runs again.
    const wrong = page.getByTestId('invoice-file').nth(1);
    await wrong.getByTestId('edit-data').click();
    await expect(wrong.locator('input[name="total"]')).toHaveValue('57.00');
    await wrong.locator('input[name="total"]').fill('56.50');
    await wrong.getByTestId('save-match').click();
    await expect(page.getByTestId('matched-count')).toHaveText('2 of 3 declared');
    await expect(page.getByTestId('invoice-file').nth(1)).toHaveAttribute('data-state',
                                                                          'matched');

    // The undeclared number: a person confirms which declared invoice it is.
    const third = page.getByTestId('invoice-file').nth(2);
    await expect(third.getByTestId('pick')).toHaveValue('04400003');
    await third.getByTestId('confirm-match').click();
    await expect(page.getByTestId('matched-count')).toHaveText('3 of 3 declared');
    await expect(page.getByTestId('all-matched')).toBeVisible();
    await expect(page.getByTestId('confirm-erp')).toBeVisible();

    // Unmatch takes the bill back to submitted; confirming again makes it ready.
    await page.getByTestId('invoice-file').nth(2).getByTestId('unmatch').click();
    await expect(page.getByTestId('matched-count')).toHaveText('2 of 3 declared');
    await expect(page.getByTestId('bill-state')).toHaveText('Submitted');
    await expect(page.getByTestId('confirm-erp')).toHaveCount(0);
    await page.getByTestId('invoice-file').nth(2).getByTestId('confirm-match').click();
    await expect(page.getByTestId('bill-state')).toHaveText('Ready');
    await shot(page, 'signoff-all-matched');

    await page.getByTestId('confirm-cancel').click();
    await expect(page.getByTestId('confirm-erp')).toContainText('Not submitted to the ERP.');
    await page.reload();
    await page.getByTestId('confirm-ok').click();
    await expect(page.getByTestId('erp-state')).toHaveAttribute('data-state', 'delivered',
                                                                {timeout: 35_000});
    await expect(page.getByTestId('erp-state')).toHaveText('The ERP took the bill.');
    await expect(page.getByTestId('confirm-ok')).toHaveCount(0);
    await page.getByTestId('erp-state').scrollIntoViewIfNeeded();
    await shot(page, 'signoff-erp-delivered');
    await page.goto('/#/bills/SB-3');
    await expect(page.getByTestId('bill-state')).toHaveText('Submitted to ERP');
});

test('situation 1: an auto scheme goes on to the ERP by itself', async ({page}) => {
    // The capture page names its batch: "View match results" shows the batch's.
    await page.goto(`/#/submit/SB-1?batch=${batch}`);
    await page.getByTestId('submit').click();
    await expect(page.getByTestId('situation-1')).toBeVisible();
    await expect(page.getByTestId('bill-state')).not.toHaveText('Captured');
    await expect(page.getByTestId('erp-state')).toHaveAttribute('data-state', 'delivered',
                                                                {timeout: 35_000});
    await expect(page.getByTestId('continue-capturing')).toHaveAttribute('href',
                                                                         '#/capture/SB-1');
    await expect(page.getByTestId('signoff-list')).toHaveAttribute('href', '#/lists/signoff');
    await shot(page, 'submit-situation-1');
    await page.getByTestId('view-match').click();
    await expect(page).toHaveURL(new RegExp(`#/batches/${batch}$`));
    await expect(page.getByTestId('batch-bill')).toHaveCount(1);
    await expect(page.getByTestId('batch-file')).toHaveCount(1);
    await expect(page.getByTestId('batch-bill')).toContainText('1 of 1 declared');
    await shot(page, 'batch-match');
    await page.getByTestId('nav-signoff').click();
    await expect(page.getByTestId('worklist-signoff')).toContainText('SB-1');
});

test('situation 2: a manual scheme shows the match results, then Submit to ERP',
     async ({page}) => {
         await page.goto('/#/submit/SB-2');
         await page.getByTestId('submit').click();
         await expect(page.getByTestId('situation-2')).toBeVisible();
         await expect(page.getByTestId('erp')).toBeEmpty();
         await page.getByTestId('view-match').click();
         const files = page.getByTestId('match-file');
         await expect(files).toHaveCount(2);
         await expect(files.nth(0)).toHaveAttribute('data-state', 'matched');
         await expect(files.nth(1)).toHaveAttribute('data-state', 'matched');
         await shot(page, 'submit-situation-2');
         await page.getByTestId('submit-erp').click();
         await expect(page.getByTestId('erp-state')).toHaveAttribute(
             'data-state', 'delivered', {timeout: 35_000});
     });

test('the work lists, and a reviewer sends a bill back', async ({page}) => {
    await page.getByTestId('nav-signoff').click();
    const signoff = page.getByTestId('worklist-signoff');
    await expect(signoff).toContainText('SB-3');
    const row = page.getByTestId('worklist-row').filter({hasText: 'SB-3'});
    await expect(row.getByTestId('matched')).toHaveText(/^[0-3] \/ 3$/);
    await expect(signoff).not.toContainText('SB-4'); // basic mode
    await shot(page, 'signoff-list');

    await page.getByTestId('nav-upload').click();
    await expect(page.getByTestId('worklist-upload')).toContainText('SB-6');

    await page.goto('/#/bills/SB-4');
    await expect(page.getByTestId('bill-state')).toHaveText('Ready');
    await page.getByTestId('send-back').click();
    await expect(page.getByTestId('panel-return')).toContainText('Give a reason.');
    await page.getByTestId('return-reason').fill('invoice 2 is cut off');
    await page.getByTestId('send-back').click();
    await expect(page.getByTestId('bill-state')).toHaveText('Returned for rescanning');

    await page.getByTestId('nav-rescan').click();
    const rescan = page.getByTestId('worklist-rescan');
    await expect(rescan).toContainText('SB-5');
    await expect(page.getByTestId('worklist-row').filter({hasText: 'SB-5'})
        .getByTestId('returned-reason')).toHaveText('the cover page is blurred');
    await expect(page.getByTestId('worklist-row').filter({hasText: 'SB-4'})
        .getByTestId('returned-reason')).toHaveText('invoice 2 is cut off');
    await shot(page, 'rescan-list');
});

test.describe('in Chinese', () => {
    test.use({locale: 'zh-CN'});

    test('the sign-off page and list in Chinese', async ({page}) => {
        await page.goto('/#/match/SB-3');
        await expect(page.locator('h1')).toHaveText('SB-3 人工核签');
        await expect(page.getByTestId('declared')).toContainText('申报发票');
        await expect(page.getByTestId('invoice-files')).toContainText('发票文件');
        await page.getByTestId('nav-signoff').click();
        await expect(page.locator('h1')).toHaveText('单据签收列表');
        await expect(page.getByTestId('worklist-signoff')).toContainText('已匹配');
        await shot(page, 'signoff-list-zh');
    });
});
