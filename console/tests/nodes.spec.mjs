// When a node goes down (docs/console.md): three nodes; sign in on node 1, see the
// bill, kill node 1 (SIGKILL, by the pid run_console.py gives), and the next action
// shows the banner naming node 1 and linking to nodes 2 and 3; the link opens node 2's
// sign-in, and after signing in there the same bill is shown. The banner goes once
// calls are answered again.
import {expect, test} from '@playwright/test';
import {fillLogin, seed, shot, watch} from './fixtures.mjs';

const urls = (process.env.IMGARC_URLS || '').split(',').filter(Boolean);
const pids = (process.env.IMGARC_PIDS || '').split(',').filter(Boolean).map(Number);

test('a node goes down: the banner leads to the others, the same bill there', async ({page}) => {
    expect(urls.length, 'run through run_console.py --spec nodes').toBe(3);
    expect(pids.length).toBe(3);
    const problems = watch(page);
    const [u1, u2, u3] = urls;
    await page.goto(u1 + '/');
    await expect(page).toHaveURL(/#\/login/);
    await fillLogin(page, {password: seed.password});
    await expect(page.getByTestId('who')).toBeVisible();
    // The list of nodes is asked right after sign-in and kept in sessionStorage.
    await expect.poll(() => page.evaluate(() => sessionStorage.getItem('imgarc.nodes')))
        .not.toBeNull();
    const kept = await page.evaluate(() => JSON.parse(sessionStorage.getItem('imgarc.nodes')));
    expect(kept.map((n) => n.url).sort()).toEqual([...urls].sort());
    expect(kept.every((n) => n.health === 'ok' && /^[0-9]+$/.test(n.id))).toBe(true);
    expect(kept.filter((n) => n.leader).length).toBe(1);
    const billLink = page.getByRole('link', {name: seed.bill});
    await expect(billLink).toBeVisible();
    await expect(page.getByTestId('node-down')).toBeHidden();

    // Node 1 dies; the next action gets no answer.
    process.kill(pids[0], 'SIGKILL');
    await billLink.click();
    const banner = page.getByTestId('node-down');
    await expect(banner).toBeVisible();
    const host1 = new URL(u1).host;
    await expect(banner).toContainText(`This node (${host1}) does not answer. ` +
                                       'Other nodes of this cluster:');
    const links = banner.getByTestId('node-link');
    await expect(links).toHaveCount(2);
    expect((await links.allTextContents()).sort()).toEqual([u2 + '/', u3 + '/'].sort());
    for (const a of await links.all()) {
        // The link opens the sign-in there and then this bill's page.
        expect(await a.getAttribute('href'))
            .toMatch(new RegExp('^http://127\\.0\\.0\\.1:[0-9]+/#/login\\?next=%23%2Fbills%2F'));
    }
    await expect(banner).toContainText('sign in there again');
    await shot(page, 'node-down');

    // Follow the link to node 2: its sign-in (the session belonged to node 1), then
    // the same bill.
    await banner.getByRole('link', {name: u2 + '/'}).click();
    await expect(page).toHaveURL(new RegExp('^' + u2.replace(/[.]/g, '\\.') + '/#/login'));
    await expect(page.getByTestId('node-down')).toBeHidden();
    await fillLogin(page, {password: seed.password});
    await expect(page).toHaveURL(new RegExp('#/bills/' + seed.bill + '$'));
    await expect(page.locator('h1')).toContainText(seed.bill);
    await expect(page.getByText('taxi-receipt.jpg').first()).toBeVisible();
    await expect(page.getByText('hotel.pdf').first()).toBeVisible();
    await expect(page.getByTestId('node-down')).toBeHidden();
    // A 503 (a node stopping, or without quorum) shows the banner too, naming nodes 1
    // and 3 from node 2's list; the next answered call takes it away.
    await expect.poll(() => page.evaluate(() => sessionStorage.getItem('imgarc.nodes')))
        .not.toBeNull();
    const billList = (url) => url.pathname === '/api/v1/bills';
    await page.route(billList, (route) => route.fulfill({
        status: 503, contentType: 'application/json',
        body: JSON.stringify({error: 'unavailable', code: 11503,
                              message: 'the node is shutting down; retry on another node or later'}),
    }));
    await page.getByRole('link', {name: 'Bills', exact: true}).first().click();
    await expect(banner).toBeVisible();
    await expect(banner).toContainText(`This node (${new URL(u2).host}) does not answer.`);
    expect((await links.allTextContents()).sort()).toEqual([u1 + '/', u3 + '/'].sort());
    await page.unroute(billList);
    await page.evaluate((no) => { location.hash = '#/bills/' + encodeURIComponent(no); }, seed.bill);
    await expect(page.locator('h1')).toContainText(seed.bill);
    await expect(banner).toBeHidden();
    // Node 2's list now shows node 1 down (within the node's 5 s cache and the view's
    // poll timeout): ask it as the console does.
    await expect.poll(async () => {
        const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('imgarc.session')).token);
        const r = await page.request.get(u2 + '/api/v1/nodes',
                                         {headers: {Authorization: 'Bearer ' + token}});
        const list = (await r.json()).nodes;
        return list.find((n) => n.url === u1).health;
    }, {timeout: 30_000}).toBe('down');
    expect(problems).toEqual([]);
});
