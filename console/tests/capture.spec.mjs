// The capture page (seed 002): a capture user opens a new bill by image number, drops
// six files on the page (a cover PDF, two e-invoice XMLs, a JPEG, a two-page PDF, a
// two-page TIFF), sees them in their sections, then makes every edit in turn, each
// checked through the API afterwards: set as invoice, another category (dialog), cover,
// attachment, rotate, a drag into another section (with its confirmation), merge and
// split, replace scan, replace cover, insert after, delete, and Submit's link. Then an
// upload's progress (bytes, then storing) under a throttled link, cancel and retry with
// the same Idempotency-Key, the supplementary-scan banner of a submitted bill, an amend
// of a ready sync-mode bill, and the page in Chinese.
import {expect, test} from '@playwright/test';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {seed, shot, signIn, watch} from './fixtures.mjs';

const dir = () => {
    const d = process.env.IMGARC_SEED_FILES;
    if (!d) {
        throw new Error('IMGARC_SEED_FILES is not set: run through tests/console/run_console.py');
    }
    return d;
};
const path = (name) => join(dir(), name);
const NO = () => seed.bill;
const COVER = () => `cover-${NO()}.pdf`;
const DROPPED = () => [COVER(), 'invoice-0001.xml', 'invoice-0002.xml', 'taxi-receipt.jpg',
                       'contract-2-pages.pdf', 'scan-2-pages.tif'];

test.use({viewport: {width: 1440, height: 900}});

let problems;
test.beforeEach(async ({page}) => {
    problems = watch(page);
    await signIn(page);
});
test.afterEach(() => {
    expect(problems).toEqual([]);
});

// GET through the API with the page's own token.
async function apiGet(page, p) {
    const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('imgarc.session'))
        .token);
    const r = await page.request.get(p, {headers: {Authorization: `Bearer ${token}`}});
    expect(r.status(), p).toBe(200);
    return r.json();
}
const bill = (page, no = NO()) => apiGet(page, `/api/v1/bills/${encodeURIComponent(no)}`);
const byName = (b, name) => b.files.find((f) => f.name === name);
const names = (b) => b.files.map((f) => f.name);

// Drops files on the page as a browser does (a DataTransfer holding File objects).
async function dropFiles(page, list) {
    const files = list.map((name) => ({name, b64: readFileSync(path(name)).toString('base64')}));
    const dt = await page.evaluateHandle((fs) => {
        const d = new DataTransfer();
        for (const f of fs) {
            const bin = atob(f.b64);
            const bytes = new Uint8Array(bin.length);
            for (let i = 0; i < bin.length; i++) {
                bytes[i] = bin.charCodeAt(i);
            }
            d.items.add(new File([bytes], f.name));
        }
        return d;
    }, files);
    await page.getByTestId('capture').dispatchEvent('dragover', {dataTransfer: dt});
    await page.getByTestId('capture').dispatchEvent('drop', {dataTransfer: dt});
}

const item = (page, name) => page.getByTestId('file-item').filter({hasText: name});
const count = (page, cat) => page.getByTestId('section-' + cat).getByTestId('count');

async function pickFiles(page, button, list) {
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'),
                                         page.getByTestId(button).click()]);
    await chooser.setFiles(list.map(path));
}

async function uploadsDone(page, n) {
    await expect(page.getByTestId('upload').and(page.locator('[data-state="done"]')))
        .toHaveCount(n, {timeout: 30_000});
}

test('a new bill: import by drop, sections and counts, then every edit', async ({page}) => {
    test.setTimeout(180_000);
    // Open by image number: a bad one is refused in the page; Enter opens (a barcode gun).
    await page.getByTestId('nav-capture').click();
    await expect(page).toHaveURL(/#\/capture$/);
    await page.getByTestId('cap-no').fill('bad no!');
    await page.getByTestId('cap-no').press('Enter');
    await expect(page).toHaveURL(/#\/capture$/);
    await page.getByTestId('cap-no').fill(NO());
    await page.getByTestId('cap-no').press('Enter');
    await expect(page).toHaveURL(new RegExp(`#/capture/${NO()}$`));
    await expect(page.getByTestId('bill-state')).toHaveText('New bill');
    await expect(page.getByTestId('cap-banner')).toContainText('import files to create it');
    await expect(page.getByTestId('section-travel')).toBeVisible();
    await expect(page.getByTestId('act-merge')).toBeDisabled();

    // Six files dropped: stored in order, one document each (the two-page PDF stays one).
    await dropFiles(page, DROPPED());
    await uploadsDone(page, 6);
    await expect(page.getByTestId('bill-state')).toHaveText('Captured');
    await expect(count(page, 'cover')).toHaveText('1');
    await expect(count(page, 'invoice')).toHaveText('2');
    await expect(count(page, 'attachment')).toHaveText('3');
    await expect(count(page, 'travel')).toHaveText('0');
    await expect(page.getByTestId('cap-counts')).toHaveText('6 documents, 7 pages');
    let b = await bill(page);
    expect(names(b)).toEqual(DROPPED());
    expect(b.files.map((f) => f.category)).toEqual(['cover', 'invoice', 'invoice', 'attachment',
                                                     'attachment', 'attachment']);
    expect(byName(b, 'contract-2-pages.pdf').pages).toBe(2);
    await item(page, 'contract-2-pages.pdf').click();
    await expect(page.getByTestId('page-count')).toHaveText('2 pages');
    await expect(page.getByTestId('details')).toContainText('contract-2-pages.pdf');
    await expect(page.locator('.page-pdf').first()).toHaveAttribute('data-state', 'drawn');
    await shot(page, 'capture-files');

    // Set as invoice: one file only (a second selected closes it).
    await item(page, 'taxi-receipt.jpg').click();
    await expect(page.getByTestId('act-invoice')).toBeEnabled();
    await item(page, 'scan-2-pages.tif').click({modifiers: ['Control']});
    await expect(page.getByTestId('sel-count')).toHaveText('2 selected');
    await expect(page.getByTestId('act-invoice')).toBeDisabled();
    await item(page, 'taxi-receipt.jpg').click();
    await page.getByTestId('act-invoice').click();
    await expect(count(page, 'invoice')).toHaveText('3');
    b = await bill(page);
    expect(byName(b, 'taxi-receipt.jpg').category).toBe('invoice');

    // Another category: two files, the dialog lists the custom categories.
    await item(page, 'taxi-receipt.jpg').click();
    await item(page, 'scan-2-pages.tif').click({modifiers: ['Control']});
    await page.getByTestId('act-other').click();
    await expect(page.getByTestId('ask')).toBeVisible();
    await page.getByTestId('ask-choice').selectOption('travel');
    await page.getByTestId('ask-ok').click();
    await expect(count(page, 'travel')).toHaveText('2');
    b = await bill(page);
    expect(byName(b, 'taxi-receipt.jpg').category).toBe('travel');
    expect(byName(b, 'scan-2-pages.tif').category).toBe('travel');

    // Cover, then back to attachment.
    await item(page, 'contract-2-pages.pdf').click();
    await page.getByTestId('act-cover').click();
    await expect(count(page, 'cover')).toHaveText('2');
    expect(byName(await bill(page), 'contract-2-pages.pdf').category).toBe('cover');
    await item(page, 'contract-2-pages.pdf').click();
    await page.getByTestId('act-attachment').click();
    await expect(count(page, 'cover')).toHaveText('1');
    expect(byName(await bill(page), 'contract-2-pages.pdf').category).toBe('attachment');

    // Rotate: right twice, left once: 90, saved.
    await item(page, 'contract-2-pages.pdf').click();
    await page.getByTestId('act-rotate-right').click();
    await expect(item(page, 'contract-2-pages.pdf')).toContainText('90°');
    await page.getByTestId('act-rotate-right').click();
    await expect(item(page, 'contract-2-pages.pdf')).toContainText('180°');
    await page.getByTestId('act-rotate-left').click();
    await expect(item(page, 'contract-2-pages.pdf')).toContainText('90°');
    expect(byName(await bill(page), 'contract-2-pages.pdf').rotation).toBe(90);

    // Drag an invoice onto the attachment section (after the contract): the node asks to
    // confirm the category; Cancel leaves it, OK changes it.
    const dragInvoice = async () => {
        const target = item(page, 'contract-2-pages.pdf');
        const box = await target.boundingBox();
        await item(page, 'invoice-0002.xml').dragTo(target,
                                                   {targetPosition: {x: 30, y: box.height - 4}});
        await expect(page.getByTestId('ask')).toBeVisible();
        await expect(page.getByTestId('ask-text'))
            .toHaveText('Change the category of invoice-0002.xml to Attachments?');
    };
    await dragInvoice();
    await page.getByTestId('ask-cancel').click();
    await expect(page.getByTestId('ask')).toHaveCount(0);
    expect(byName(await bill(page), 'invoice-0002.xml').category).toBe('invoice');
    await dragInvoice();
    await shot(page, 'capture-drag-confirm');
    await page.getByTestId('ask-ok').click();
    await expect(count(page, 'attachment')).toHaveText('2');
    b = await bill(page);
    expect(names(b)).toEqual([COVER(), 'invoice-0001.xml', 'taxi-receipt.jpg',
                              'contract-2-pages.pdf', 'invoice-0002.xml', 'scan-2-pages.tif']);
    expect(byName(b, 'invoice-0002.xml').category).toBe('attachment');

    // Merge: only adjacent files (cover + contract are not); then split.
    await item(page, COVER()).click();
    await item(page, 'contract-2-pages.pdf').click({modifiers: ['Control']});
    await expect(page.getByTestId('act-merge')).toBeDisabled();
    await item(page, 'contract-2-pages.pdf').click();
    await item(page, 'invoice-0002.xml').click({modifiers: ['Shift']});
    await expect(page.getByTestId('sel-count')).toHaveText('2 selected');
    await page.getByTestId('act-merge').click();
    await expect(count(page, 'attachment')).toHaveText('1');
    await expect(item(page, 'contract-2-pages.pdf')).toContainText('merged, 2 files');
    b = await bill(page);
    const contract = byName(b, 'contract-2-pages.pdf');
    expect(contract.parts).toEqual([byName(b, 'invoice-0002.xml').file_id]);
    expect(byName(b, 'invoice-0002.xml').merged_into).toBe(contract.file_id);
    await item(page, 'contract-2-pages.pdf').click();
    await expect(page.getByTestId('page-count')).toHaveText('3 pages in 2 files (merged)');
    await expect(page.getByTestId('act-split')).toBeEnabled();
    await expect(page.locator('.page-pdf').first()).toHaveAttribute('data-state', 'drawn');
    await shot(page, 'capture-merged');
    await page.getByTestId('act-split').click();
    await expect(count(page, 'attachment')).toHaveText('2');
    b = await bill(page);
    expect(byName(b, 'contract-2-pages.pdf').parts || []).toEqual([]);
    expect(byName(b, 'invoice-0002.xml').merged_into || null).toBe(null);

    // Replace scan: not for a cover, nor for two categories; the JPEG by a PDF.
    await item(page, COVER()).click();
    await expect(page.getByTestId('act-replace')).toBeDisabled();
    await item(page, 'taxi-receipt.jpg').click({modifiers: ['Control']});
    await expect(page.getByTestId('act-replace')).toBeDisabled();
    await item(page, 'taxi-receipt.jpg').click();
    const oldJpg = byName(b, 'taxi-receipt.jpg');
    await pickFiles(page, 'act-replace', ['rescan-receipt.pdf']);
    await uploadsDone(page, 7);
    await expect(item(page, 'rescan-receipt.pdf')).toBeVisible();
    b = await bill(page);
    expect(byName(b, 'taxi-receipt.jpg')).toBeUndefined();
    expect(byName(b, 'rescan-receipt.pdf').category).toBe('travel');
    expect(byName(b, 'rescan-receipt.pdf').position).toBe(oldJpg.position);

    // Replace cover.
    await item(page, COVER()).click();
    await pickFiles(page, 'act-replace-cover', [`cover-new-${NO()}.pdf`]);
    await uploadsDone(page, 8);
    b = await bill(page);
    expect(b.files[0].name).toBe(`cover-new-${NO()}.pdf`);
    expect(b.files[0].category).toBe('cover');
    expect(byName(b, COVER())).toBeUndefined();

    // Insert after the first invoice: two files, in the order picked.
    await item(page, 'invoice-0001.xml').click();
    await pickFiles(page, 'act-insert', ['insert-a.txt', 'insert-b.txt']);
    await uploadsDone(page, 10);
    b = await bill(page);
    expect(names(b).slice(1, 4)).toEqual(['invoice-0001.xml', 'insert-a.txt', 'insert-b.txt']);

    // Delete two (a Shift range), after the confirmation.
    await item(page, 'insert-a.txt').click();
    await item(page, 'insert-b.txt').click({modifiers: ['Shift']});
    await page.getByTestId('act-delete').click();
    await expect(page.getByTestId('ask-text')).toContainText('Delete 2 files?');
    await page.getByTestId('ask-ok').click();
    await expect(item(page, 'insert-a.txt')).toHaveCount(0);
    b = await bill(page);
    expect(names(b)).toEqual([`cover-new-${NO()}.pdf`, 'invoice-0001.xml', 'rescan-receipt.pdf',
                              'contract-2-pages.pdf', 'invoice-0002.xml', 'scan-2-pages.tif']);
    expect(b.files.map((f) => f.position)).toEqual([1, 2, 3, 4, 5, 6]);

    // A refusal shows the node's message, then the page reads the bill again: the TIFF
    // deleted meanwhile by another tab, then rotated here.
    await item(page, 'scan-2-pages.tif').click();
    const tif = byName(b, 'scan-2-pages.tif').file_id;
    const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('imgarc.session'))
        .token);
    const del = await page.request.post(`/api/v1/bills/${NO()}/delete`,
                                        {headers: {Authorization: `Bearer ${token}`},
                                         data: {file_ids: [tif]}});
    expect(del.status()).toBe(200);
    await page.getByTestId('act-rotate-right').click();
    await expect(page.getByTestId('cap-msg').getByTestId('error')).toContainText(tif);
    await expect(page.getByTestId('cap-msg')).toContainText('Request id');
    await expect(item(page, 'scan-2-pages.tif')).toHaveCount(0);
    await expect(count(page, 'travel')).toHaveText('1');

    // Submit goes to the submit page of this bill.
    await expect(page.getByTestId('act-submit')).toHaveAttribute('href', `#/submit/${NO()}`);
    await page.getByTestId('act-submit').click();
    await expect(page).toHaveURL(new RegExp(`#/submit/${NO()}$`));
});

test('upload progress: bytes, then storing; cancel, and retry with the same key',
     async ({page}) => {
    test.setTimeout(120_000);
    const big = 'BX-CAP-BIG';
    await page.goto(`/#/capture/${big}`);
    await expect(page.getByTestId('bill-state')).toHaveText('New bill');
    // A new bill's 404 is expected: no "last error" in the footer.
    await expect(page.getByTestId('last-error')).toBeEmpty();
    // Every state an upload row goes through, as drawn.
    await page.evaluate(() => {
        window.seenStates = [];
        new MutationObserver(() => {
            for (const li of document.querySelectorAll('[data-testid="upload"]')) {
                const s = `${li.getAttribute('data-state')}:${li.getAttribute('data-count')}`;
                if (window.seenStates.at(-1) !== s) {
                    window.seenStates.push(s);
                }
            }
        }).observe(document.body, {subtree: true, childList: true});
    });
    const keys = [];
    page.on('request', (r) => {
        if (r.method() === 'POST' && r.url().includes(`/bills/${big}/files`)) {
            keys.push(r.headers()['idempotency-key']);
        }
    });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions',
                   {offline: false, latency: 20, downloadThroughput: -1,
                    uploadThroughput: 1.5 * 1024 * 1024});
    const size = readFileSync(path('big-scan.txt')).length;
    await pickFiles(page, 'act-import', ['big-scan.txt']);
    await expect(page.getByTestId('upload-state'))
        .toContainText(/^[0-9.]+ [KM]iB of 4\.\d MiB sent$/);
    await shot(page, 'capture-upload');
    await uploadsDone(page, 1);
    const seen = await page.evaluate(() => window.seenStates);
    const sending = seen.filter((s) => s.startsWith('sending:')).map((s) => Number(s.slice(8)));
    expect(sending.some((n) => n > 0 && n < size), seen.join(' ')).toBe(true);
    const iStoring = seen.indexOf(`storing:${size}`);
    expect(iStoring, seen.join(' ')).toBeGreaterThan(0);
    expect(seen.indexOf(`done:${size}`)).toBeGreaterThan(iStoring);
    let b = await bill(page, big);
    expect(b.files.map((f) => [f.name, f.size])).toEqual([['big-scan.txt', size]]);

    // Cancel while sending: nothing stored; Retry sends it again with the same key.
    await pickFiles(page, 'act-import', ['big-scan.txt']);
    const row = page.getByTestId('upload').nth(1);
    await expect(row).toHaveAttribute('data-state', 'sending');
    await row.getByTestId('upload-cancel').click();
    await expect(row).toHaveAttribute('data-state', 'cancelled');
    b = await bill(page, big);
    expect(b.files).toHaveLength(1);
    await cdp.send('Network.emulateNetworkConditions',
                   {offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1});
    await row.getByTestId('upload-retry').click();
    await expect(row).toHaveAttribute('data-state', 'done', {timeout: 30_000});
    expect(keys).toHaveLength(3);
    expect(keys[2]).toBe(keys[1]);
    expect(keys[1]).not.toBe(keys[0]);
    b = await bill(page, big);
    expect(b.files).toHaveLength(2);

    // A type the archive does not know: said before it goes; stored as "bin".
    await pickFiles(page, 'act-import', ['readings.dat']);
    await expect(page.getByTestId('cap-msg'))
        .toContainText('The archive does not know the type of readings.dat');
    await uploadsDone(page, 3);
    b = await bill(page, big);
    expect(byName(b, 'readings.dat').format).toBe('bin');
});

test('a submitted bill with a cover: supplementary scan only; the bill page links here',
     async ({page}) => {
    const sub = seed.readyBill;
    await page.goto(`/#/bills/${sub}`);
    await page.getByTestId('capture-edit').click();
    await expect(page).toHaveURL(new RegExp(`#/capture/${sub}$`));
    await expect(page.getByTestId('cap-banner')).toContainText('Supplementary scan');
    await item(page, 'receipt.jpg').click();
    await expect(page.getByTestId('act-import')).toBeEnabled();
    await expect(page.getByTestId('act-rotate-right')).toBeEnabled();
    for (const a of ['act-invoice', 'act-attachment', 'act-cover', 'act-replace', 'act-insert',
                     'act-delete', 'act-merge', 'act-submit']) {
        await expect(page.getByTestId(a)).toBeDisabled();
    }
    // The node takes the added file; the state stays.
    await pickFiles(page, 'act-import', ['insert-a.txt']);
    await uploadsDone(page, 1);
    const b = await bill(page, sub);
    expect(b.state).toBe('ready');
    expect(names(b)).toEqual(['cover.pdf', 'receipt.jpg', 'insert-a.txt']);
    await shot(page, 'capture-supplement');
});

test('a ready sync-mode bill: amend adds and deletes, never the cover; the state stays',
     async ({page}) => {
    const no = process.env.IMGARC_SEED_BILL_AMEND;
    await page.goto(`/#/capture/${no}`);
    await expect(page.getByTestId('cap-banner')).toContainText('Amend');
    await item(page, 'cover.pdf').click();
    await expect(page.getByTestId('act-delete')).toBeDisabled();
    await expect(page.getByTestId('act-replace-cover')).toBeEnabled();
    await expect(page.getByTestId('act-attachment')).toBeDisabled();
    await item(page, 'wrong-page.pdf').click();
    await expect(page.getByTestId('act-delete')).toBeEnabled();
    await expect(page.getByTestId('act-replace')).toBeEnabled();
    await expect(page.getByTestId('act-merge')).toBeDisabled();
    await page.getByTestId('act-delete').click();
    await page.getByTestId('ask-ok').click();
    await expect(item(page, 'wrong-page.pdf')).toHaveCount(0);
    await pickFiles(page, 'act-import', ['insert-b.txt']);
    await uploadsDone(page, 1);
    const b = await bill(page, no);
    expect(b.state).toBe('ready');
    expect(names(b)).toEqual(['cover.pdf', 'receipt.jpg', 'insert-b.txt']);
    expect(byName(b, 'insert-b.txt').amended).toBe(true);
});

test('the capture page in Chinese', async ({page}) => {
    await page.evaluate(() => localStorage.setItem('imgarc.lang', 'zh-CN'));
    await page.goto(`/#/capture/${seed.readyBill}`);
    await page.reload();
    await expect(page.getByTestId('act-import')).toHaveText('本地导入');
    await expect(page.getByTestId('act-replace')).toHaveText('替扫影像');
    await expect(page.getByTestId('cap-banner')).toContainText('补扫');
    await expect(page.getByTestId('section-cover')).toContainText('封面');
});
