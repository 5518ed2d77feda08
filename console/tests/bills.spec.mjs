// The bill list and the bill page: the list, filters by state and image number, a bill
// opened with its sections and counts, the JPEG shown, the PDF drawn by pdf.js (two
// pages on canvases), zoom changing the size, a merged document as one, the log.
import {expect, test} from '@playwright/test';
import {seed, shot, signIn, watch} from './fixtures.mjs';

let problems;
test.beforeEach(async ({page}) => {
    problems = watch(page);
    await signIn(page);
});
test.afterEach(() => {
    expect(problems).toEqual([]);
});

test('the list shows every bill; filters by state and by image number', async ({page}) => {
    const rows = page.getByTestId('bill-row');
    await expect(rows).toHaveCount(4);
    await expect(rows.first()).toContainText(seed.bill);
    await expect(page.getByTestId('bill-list')).toContainText('Shanghai branch');
    await shot(page, 'bill-list');

    await page.locator('#f-state').selectOption('ready');
    await page.getByTestId('apply').click();
    await expect(page).toHaveURL(/state=ready/);
    await expect(rows).toHaveCount(1);
    await expect(rows.first()).toContainText(seed.readyBill);
    await expect(rows.first()).toContainText('Ready');

    await page.locator('#f-state').selectOption('');
    await page.locator('#f-image_no').fill(seed.mergedBill);
    await page.getByTestId('apply').click();
    await expect(rows).toHaveCount(1);
    await expect(rows.first()).toContainText(seed.mergedBill);

    // A filter that matches nothing says so; a reload keeps the filters.
    await page.locator('#f-image_no').fill('');
    await page.locator('#f-state').selectOption('erp_failed');
    await page.getByTestId('apply').click();
    await expect(page.getByTestId('no-bills')).toHaveText('No bills match these filters.');
    await page.reload();
    await expect(page.locator('#f-state')).toHaveValue('erp_failed');
    await expect(page.getByTestId('no-bills')).toBeVisible();
});

test('pages through the list by cursor', async ({page}) => {
    await page.locator('#f-limit').selectOption('20');
    await page.getByTestId('apply').click();
    await expect(page).toHaveURL(/limit=20/);
    // Two to a page (a page size typed into the address), four bills: two pages.
    await page.goto('/#/bills?limit=2');
    const rows = page.getByTestId('bill-row');
    await expect(rows).toHaveCount(2);
    await expect(rows.nth(0)).toContainText(seed.bill);
    await expect(page.getByTestId('previous-page')).toHaveCount(0);
    await page.getByTestId('next-page').click();
    await expect(rows).toHaveCount(2);
    await expect(rows.nth(0)).toContainText(seed.mergedBill);
    await expect(rows.nth(1)).toContainText(seed.poolBill);
    await expect(page.getByTestId('next-page')).toHaveCount(0);
    await page.getByTestId('previous-page').click();
    await expect(rows.nth(0)).toContainText(seed.bill);
    await expect(rows.nth(1)).toContainText(seed.readyBill);
    await expect(page.getByTestId('previous-page')).toHaveCount(0);
});

test('a ready bill: status without reasons, its webhook delivery', async ({page}) => {
    await page.goto(`/#/bills/${seed.readyBill}`);
    await expect(page.getByTestId('bill-state')).toHaveText('Ready');
    await expect(page.getByTestId('panel-status'))
        .toContainText('No open reasons: the bill is ready.');
    const d = page.getByTestId('deliveries');
    await expect(d).toContainText('ready');
    await expect(d).toContainText('delivered');
    await expect(d).toContainText('200 ok');
    await expect(page.getByTestId('log')).toContainText('state_changed');
});

test('a bill: fields, sections with counts, status, log; the JPEG and the PDF in the viewer',
     async ({page}) => {
    await page.getByTestId('bill-row').filter({hasText: seed.bill}).click();
    await expect(page).toHaveURL(new RegExp(`#/bills/${seed.bill}$`));
    await expect(page.locator('h1')).toHaveText(seed.bill);
    await expect(page.getByTestId('bill-fields')).toContainText('ER-2026-0001');
    await expect(page.getByTestId('bill-state')).toHaveText('Captured');
    for (const [cat, n] of [['cover', 1], ['invoice', 1], ['attachment', 4]]) {
        const s = page.getByTestId(`section-${cat}`);
        await expect(s.getByTestId('count')).toHaveText(String(n));
        await expect(s.getByTestId('file-item')).toHaveCount(n);
    }
    await expect(page.getByTestId('section-invoice')).toContainText('invoice-0001.xml');

    // The status with its reasons, and the log of the captures.
    await expect(page.getByTestId('reasons')).toContainText('captured but not submitted');
    const log = page.getByTestId('log');
    await expect(log.getByTestId('log-entry').first()).toBeVisible();
    expect(await log.getByTestId('log-entry').count()).toBeGreaterThanOrEqual(5);
    await expect(log).toContainText('pool_created');
    await expect(log).toContainText('file_added');
    await expect(page.getByTestId('no-deliveries')).toBeVisible();
    await page.getByTestId('panel-status').scrollIntoViewIfNeeded();
    await shot(page, 'bill-status-log');
    await page.evaluate(() => window.scrollTo(0, 0));

    // The JPEG: an <img> through a signed link, decoded at its size, turned by its saved
    // rotation (90 degrees: the 480x320 receipt stands 320 wide and 480 tall at 1:1).
    await page.getByTestId('file-item').filter({hasText: 'taxi-receipt.jpg'}).click();
    const img = page.getByTestId('page-image');
    await expect(img).toBeVisible();
    await expect.poll(() => img.evaluate((el) => el.complete && el.naturalWidth)).toBe(480);
    expect(await img.getAttribute('src')).toMatch(/^\/api\/v1\/links\/imglnk1\./);
    await expect(page.getByTestId('download')).toBeVisible();
    await page.getByTestId('actual-size').click();
    const box = await page.locator('.page-image').boundingBox();
    expect([Math.round(box.width), Math.round(box.height)]).toEqual([320, 480]);
    const shown = await img.boundingBox(); // the rotated image as drawn
    expect([Math.round(shown.width), Math.round(shown.height)]).toEqual([320, 480]);

    // A text file: its markup shown as text, nothing run; its name as text too.
    const notes = '<img src=x onerror=alert(1)>notes.txt';
    await page.getByTestId('file-item').filter({hasText: notes}).click();
    await expect(page.locator('pre.text')).toContainText('<script>window.pwned = 1</script>');
    await expect(page.getByTestId('viewer-title')).toHaveText(notes);
    expect(await page.evaluate(() => window.pwned)).toBeUndefined();

    // The two-page PDF: pdf.js draws it on canvases, a page when it comes near the
    // screen (at the width of the viewer, page 2 is more than a screen below).
    await page.getByTestId('file-item').filter({hasText: 'hotel-2-pages.pdf'}).click();
    await expect(page.getByTestId('page-count')).toHaveText('2 pages');
    const canvases = page.getByTestId('page-canvas');
    await expect(canvases).toHaveCount(2);
    const pdfPages = page.locator('.page-pdf');
    await expect(pdfPages.nth(0)).toHaveAttribute('data-state', 'drawn');
    await expect(pdfPages.nth(1)).not.toHaveAttribute('data-state', 'drawn');
    // Something was drawn: the first page's pixels are not all white.
    const inked = await canvases.first().evaluate((c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i] < 128) {
                n++;
            }
        }
        return n;
    });
    expect(inked).toBeGreaterThan(500);
    // The canvas fills its page box exactly.
    expect(await canvases.first().boundingBox()).toEqual(await pdfPages.nth(0).boundingBox());
    await shot(page, 'bill-pdf');
    await pdfPages.nth(1).scrollIntoViewIfNeeded();
    await expect(pdfPages.nth(1)).toHaveAttribute('data-state', 'drawn');
    await page.getByTestId('pages').evaluate((el) => el.scrollTo(0, 0));

    // Zoom: 1:1 is A4 at 96 dpi; + makes it 25% larger; fit width fits the viewer.
    const width = async () => (await canvases.first().boundingBox()).width;
    await page.getByTestId('actual-size').click();
    await expect(page.getByTestId('zoom')).toHaveText('100%');
    await expect.poll(width).toBeCloseTo(595 * 96 / 72, -1);
    await page.getByTestId('zoom-in').click();
    await expect(page.getByTestId('zoom')).toHaveText('125%');
    await expect.poll(width).toBeCloseTo(595 * 96 / 72 * 1.25, -1);
    await page.getByTestId('zoom-out').click();
    await page.getByTestId('zoom-out').click();
    await expect(page.getByTestId('zoom')).toHaveText('75%');
    await expect.poll(width).toBeCloseTo(595 * 96 / 72 * 0.75, -1);
    await page.getByTestId('fit-width').click();
    const viewerWidth = await page.getByTestId('pages').evaluate((el) => el.clientWidth);
    await expect.poll(width).toBeCloseTo(viewerWidth - 32, -1);
    await expect(pdfPages.nth(0)).toHaveAttribute('data-state', 'drawn');

    // Full screen is the viewer's; the button again leaves it.
    const fullscreen = () =>
        page.evaluate(() => document.fullscreenElement?.dataset.testid ?? null);
    await page.getByTestId('full-screen').click();
    await expect.poll(fullscreen).toBe('viewer');
    await page.getByTestId('full-screen').click();
    await expect.poll(fullscreen).toBeNull();

    // A two-page TIFF (a scanner's): both pages decoded onto canvases, at their size at 1:1.
    await page.getByTestId('file-item').filter({hasText: 'scan-2-pages.tif'}).click();
    await expect(page.getByTestId('page-count')).toHaveText('2 pages');
    const tiffs = page.getByTestId('page-tiff');
    await expect(tiffs).toHaveCount(2);
    await expect(page.locator('.page-tiff[data-state="drawn"]')).toHaveCount(2);
    await page.getByTestId('actual-size').click();
    const t = await tiffs.nth(1).boundingBox();
    expect([Math.round(t.width), Math.round(t.height)]).toEqual([240, 160]);
    // Page 2 has two black bars: a pixel in the second bar is black, one between is white.
    const px = await tiffs.nth(1).evaluate((c) => {
        const g = c.getContext('2d');
        return [g.getImageData(70, 80, 1, 1).data[0], g.getImageData(50, 80, 1, 1).data[0]];
    });
    expect(px).toEqual([0, 255]);

    // The XML invoice: a card with its invoice data and a Download button.
    await page.getByTestId('file-item').filter({hasText: 'invoice-0001.xml'}).click();
    const card = page.getByTestId('file-card');
    await expect(card).toContainText('26312000000000000001');
    await expect(card).toContainText('1280.00');
    await expect(card.getByTestId('card-download')).toHaveAttribute('download', '');
});

test('a merged document is shown as one: its parts\' pages in order', async ({page}) => {
    await page.goto(`/#/bills/${seed.mergedBill}`);
    const items = page.getByTestId('file-item');
    await expect(items).toHaveCount(1);
    await expect(items.first()).toContainText('merged, 2 files');
    await expect(page.getByTestId('page-count')).toHaveText('3 pages in 2 files (merged)');
    const pages = page.locator('[data-testid="pages"] > .page');
    await expect(pages).toHaveCount(3);
    await expect(pages.nth(0)).toHaveClass(/page-image/);
    await expect(pages.nth(1)).toHaveClass(/page-pdf/);
    await expect(pages.nth(2)).toHaveClass(/page-pdf/);
    await expect(pages.nth(2)).toHaveAttribute('data-page', '3');
    // The PDF part was rotated by 90 degrees: its A4 pages lie on their side; the image
    // part keeps its own rotation (none).
    await expect(pages.nth(1)).toHaveAttribute('data-state', 'drawn');
    const [img, pdf] = [await pages.nth(0).boundingBox(), await pages.nth(1).boundingBox()];
    expect(img.width / img.height).toBeCloseTo(480 / 320, 1);
    expect(pdf.width / pdf.height).toBeCloseTo(842 / 595, 1);
    await shot(page, 'bill-merged');
});

test('a file whose link fails says so, and opens again with a new link', async ({page}) => {
    const gone = (r) => r.fulfill({status: 410, contentType: 'application/json',
                                   body: JSON.stringify({code: 10410, error: 'gone',
                                                         message: 'the link has expired',
                                                         request_id: 'test'})});
    await page.route('**/api/v1/links/**', gone);
    await page.goto(`/#/bills/${seed.bill}`);
    await page.getByTestId('file-item').filter({hasText: 'hotel-2-pages.pdf'}).click();
    await expect(page.getByTestId('viewer-error')).toContainText('This file cannot be shown');
    await page.unroute('**/api/v1/links/**', gone);
    await page.getByTestId('open-again').click();
    await expect(page.locator('.page-pdf').first()).toHaveAttribute('data-state', 'drawn');
    await expect(page.getByTestId('viewer-error')).toHaveCount(0);
});

test('a held bill says so to every reader; a scanner cannot place or lift a hold',
     async ({page}) => {
    await page.goto(`/#/bills/${seed.mergedBill}`);
    const box = page.getByTestId('panel-holds');
    await expect(box.getByTestId('holds-state')).toContainText('Under 1 legal hold');
    await expect(box.getByTestId('hold')).toHaveCount(1);
    await expect(box.getByTestId('hold')).toContainText('litigation hold: case 17');
    await expect(box.getByTestId('hold')).toContainText('placed by operator');
    await expect(box.getByTestId('hold-form')).toHaveCount(0);
    await expect(box.locator('button')).toHaveCount(0);
    await expect(page.getByTestId('log')).toContainText('hold_placed');
    // A bill without holds shows no panel to a user who may not place one.
    await page.goto(`/#/bills/${seed.readyBill}`);
    await expect(page.getByTestId('bill-state')).toHaveText('Ready');
    await expect(page.getByTestId('panel-holds')).toHaveCount(0);
});

test('an unknown bill says so', async ({page}) => {
    await page.goto('/#/bills/NO-SUCH-BILL');
    await expect(page.getByTestId('error')).toContainText('No bill NO-SUCH-BILL');
});

test.describe('in Chinese', () => {
    test.use({locale: 'zh-CN'});

    test('a bill page in Chinese', async ({page}) => {
        await page.goto(`/#/bills/${seed.bill}`);
        await expect(page.getByTestId('section-cover')).toContainText('封面');
        await expect(page.getByTestId('section-invoice')).toContainText('发票');
        await expect(page.getByTestId('bill-state')).toHaveText('已采集');
        await expect(page.locator('.page-pdf').first()).toHaveAttribute('data-state', 'drawn');
        await expect(page.getByTestId('page-count')).toHaveText('共 1 页');
        await shot(page, 'bill-zh');
    });
});

test('an ERP opens a bill\'s images with an event code, without signing in', async ({browser}) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = watch(page);
    // The vendor's page path, as the ERP opens it: the node sends the browser on to the
    // console's event page, the code in the fragment.
    await page.goto('/index.html?formId=bds_match_list&eventCode=' +
                    encodeURIComponent(seed.eventCode));
    await expect(page).toHaveURL(/#\/event\/imgevt1\./);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    const bills = page.getByTestId('event-bill');
    await expect(bills).toHaveCount(2);
    await expect(bills.first()).toHaveAttribute('data-image-no', seed.bill);
    await expect(bills.nth(1)).toHaveAttribute('data-image-no', seed.readyBill);
    await expect(bills.first().getByTestId('section-invoice').getByTestId('count'))
        .toHaveText('1');
    // The first file (the cover PDF) is drawn; the JPEG opens through its signed link.
    await expect(page.getByTestId('page-canvas').first()).toBeVisible();
    await bills.first().locator('[data-format="jpg"]').click();
    const img = page.getByTestId('page-image');
    await expect.poll(() => img.evaluate((el) => el.complete && el.naturalWidth)).toBe(480);
    expect(await img.getAttribute('src')).toMatch(/^\/api\/v1\/links\/imglnk1\./);
    // Its saved rotation (90 degrees) too: drawn taller than wide.
    const box = await img.boundingBox();
    expect(box.height).toBeGreaterThan(box.width);
    await shot(page, 'event-page');
    // An altered code is refused, and the page says what to do.
    const code = seed.eventCode;
    await page.goto('/#/event/' + code.slice(0, -2) + (code.endsWith('AA') ? 'BB' : 'AA'));
    await page.reload();
    await expect(page.getByTestId('event-error')).toContainText('not valid');
    expect(seen).toEqual([]);
    await context.close();
});
