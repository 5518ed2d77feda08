// The console's plain logic: API paths, signed link checks, the bill list query, hash
// routes, file sections, the merged page map, zoom steps.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {apiPath, ApiError, linkPath, newKey, queryString} from '../../src/api.js';
import {billQuery, bytes, groupFiles, localMidnight, pageMap, pageRotation, viewerKind,
        zoomStep} from '../../src/format.js';
import {parseHash, routes} from '../../src/router.js';
import {permissionsOf} from '../../src/session.js';

test('apiPath encodes every segment whole and drops empty query values', () => {
    assert.equal(apiPath(['bills', 'BX-1']), '/api/v1/bills/BX-1');
    assert.equal(apiPath(['bills', 'a/b?c#d']), '/api/v1/bills/a%2Fb%3Fc%23d');
    assert.equal(apiPath(['bills', '..']), '/api/v1/bills/..');
    assert.equal(apiPath(['bills'], {state: 'ready', org: '', x: null, cursor: 'a+b'}),
                 '/api/v1/bills?state=ready&cursor=a%2Bb');
    assert.throws(() => apiPath(['bills', '']), TypeError);
    assert.equal(queryString({created_from: '2026-12-01T00:00:00+08:00'}),
                 'created_from=2026-12-01T00%3A00%3A00%2B08%3A00');
});

test('linkPath accepts only this origin\'s /api/v1/links/', () => {
    const o = 'http://127.0.0.1:8080';
    assert.equal(linkPath('http://127.0.0.1:8080/api/v1/links/imglnk1.a.b', o),
                 '/api/v1/links/imglnk1.a.b');
    assert.equal(linkPath('/api/v1/links/imglnk1.a.b', o), '/api/v1/links/imglnk1.a.b');
    for (const bad of ['http://evil.example/api/v1/links/x', 'javascript:alert(1)',
                       '/api/v1/files/x/content', '/api/v1/links/', '//evil.example/api/v1/links/x',
                       '/api/v1/links/x?y=1', null, 42]) {
        assert.equal(linkPath(bad, o), null, String(bad));
    }
});

test('ApiError keeps the API\'s message, code and request id', () => {
    const e = new ApiError(403, {code: 10423, error: 'account_locked', message: 'locked until X',
                                 request_id: 'r1'}, 'h1', null);
    assert.equal(e.message, 'locked until X');
    assert.equal(e.code, 10423);
    assert.equal(e.requestId, 'r1');
    const f = new ApiError(502, null, 'h2', 3);
    assert.equal(f.message, 'HTTP 502 from the node');
    assert.equal(f.requestId, 'h2');
    assert.equal(f.retryAfter, 3);
});

test('idempotency keys are 32 hex digits and differ', () => {
    const a = newKey();
    assert.match(a, /^[0-9a-f]{32}$/);
    assert.notEqual(a, newKey());
});

test('billQuery: exact filters trimmed, dates as local-midnight bounds', () => {
    process.env.TZ = 'Asia/Shanghai';
    assert.deepEqual(billQuery({state: 'ready', image_no: ' BX-1 ', org: ''}, null, 50),
                     {state: 'ready', image_no: 'BX-1', limit: '50'});
    const q = billQuery({from: '2026-12-01', to: '2026-12-31'}, 'BX-9');
    assert.equal(q.created_from, localMidnight('2026-12-01'));
    assert.equal(q.created_to, localMidnight('2027-01-01'));
    assert.equal(q.cursor, 'BX-9');
    assert.match(q.created_from, /^2026-12-01T00:00:00[+-]\d{2}:\d{2}$/);
    assert.equal(localMidnight('2026-12-31', 1).slice(0, 10), '2027-01-01');
    assert.equal(localMidnight('not a date'), null);
});

test('hash routes round-trip, with encoded image numbers', () => {
    assert.deepEqual(parseHash(''), {name: 'bills', params: {}, query: {}});
    assert.deepEqual(parseHash(routes.bill('a/b c')),
                     {name: 'bill', params: {imageNo: 'a/b c'}, query: {}});
    assert.deepEqual(parseHash(routes.bills({state: 'ready', image_no: 'X&Y'})).query,
                     {state: 'ready', image_no: 'X&Y'});
    assert.equal(parseHash(routes.login('#/bills/BX-1')).query.next, '#/bills/BX-1');
    assert.equal(parseHash('#/nope').name, 'notfound');
    assert.equal(parseHash('#/bills/%E0%A4%A').name, 'notfound');
});

test('groupFiles: built-in sections, then custom ones; merged parts under their document', () => {
    const files = [
        {file_id: 'a', category: 'attachment', pages: 2, parts: [], merged_into: null},
        {file_id: 'c', category: 'cover', pages: 1, parts: [], merged_into: null},
        {file_id: 'd', category: 'travel', pages: 1, parts: [], merged_into: null},
        {file_id: 'i1', category: 'invoice', pages: 1, parts: ['i2', 'i3'], merged_into: null},
        {file_id: 'i2', category: 'invoice', pages: 3, parts: [], merged_into: 'i1'},
        {file_id: 'i3', category: 'invoice', pages: 1, parts: [], merged_into: 'i1'},
    ];
    const s = groupFiles(files);
    assert.deepEqual(s.map((x) => [x.category, x.count, x.pages]),
                     [['cover', 1, 1], ['invoice', 1, 5], ['attachment', 1, 2], ['travel', 1, 1]]);
    assert.deepEqual(s[1].items[0].parts.map((f) => f.file_id), ['i2', 'i3']);
    assert.deepEqual(groupFiles([]).map((x) => x.count), [0, 0, 0]);
});

test('pageMap numbers a merged document\'s pages across its files', () => {
    const m = pageMap([{file_id: 'a', pages: 1}, {file_id: 'b', pages: 2},
                       {file_id: 'c', pages: 0}]);
    assert.deepEqual(m.map((p) => [p.file.file_id, p.page, p.global]),
                     [['a', 1, 1], ['b', 1, 2], ['b', 2, 3], ['c', 1, 4]]);
});

test('viewer kinds, rotation, zoom steps, sizes, permissions', () => {
    assert.equal(viewerKind('pdf'), 'pdf');
    assert.equal(viewerKind('jpg'), 'image');
    assert.equal(viewerKind('png'), 'image');
    assert.equal(viewerKind('txt'), 'text');
    assert.equal(viewerKind('tiff'), 'tiff');
    for (const f of ['xml', 'ofd', 'docx', 'bin', 'whatever']) {
        assert.equal(viewerKind(f), 'card', f);
    }
    assert.equal(pageRotation(90, 270), 0);
    assert.equal(pageRotation(0, -90), 270);
    assert.equal(zoomStep(1, 1), 1.25);
    assert.equal(zoomStep(1, -1), 0.75);
    assert.equal(zoomStep(0.9, 1), 1);
    assert.equal(zoomStep(0.1, -1), 0.1);
    assert.equal(zoomStep(8, 1), 8);
    assert.equal(bytes(512), '512 B');
    assert.equal(bytes(1536), '1.5 KiB');
    assert.deepEqual(permissionsOf(['scanner']), ['capture', 'read', 'submit']);
    assert.deepEqual(permissionsOf(['custom']), ['read']);
});
