// api.js against a scripted fetch: the headers it sends (Bearer, Idempotency-Key,
// X-Imgarc-Min-Index), the one retry of a write with the same key, errors, the 401 hook.
import assert from 'node:assert/strict';
import {beforeEach, test} from 'node:test';

const store = new Map();
globalThis.sessionStorage = {
    getItem: (k) => (store.has(k) ? store.get(k) : null),
    setItem: (k, v) => store.set(k, String(v)),
    removeItem: (k) => store.delete(k),
};
globalThis.localStorage = globalThis.sessionStorage;

const api = await import('../../src/api.js');
const {session} = await import('../../src/session.js');

let calls;
let answers;
globalThis.fetch = async (url, init) => {
    calls.push({url, init});
    const a = answers.shift();
    if (a instanceof Error) {
        throw a;
    }
    return new Response(a.body === undefined ? '' : JSON.stringify(a.body),
                        {status: a.status || 200, headers: a.headers || {}});
};

beforeEach(() => {
    calls = [];
    answers = [];
    store.clear();
    session.start({access_token: 'imgarc1.tok', tenant: 't1', username: 'ann',
                   roles: ['scanner'], expires_in: 3600});
});

test('reads carry the token and, once an index was seen, X-Imgarc-Min-Index', async () => {
    answers.push({body: {bills: []}, headers: {'X-Imgarc-Index': '41'}});
    answers.push({body: {image_no: 'a/b'}, headers: {'X-Imgarc-Index': '40'}});
    await api.get(['bills'], {state: 'ready'});
    const b = await api.get(['bills', 'a/b']);
    assert.equal(b.image_no, 'a/b');
    assert.equal(calls[0].url, '/api/v1/bills?state=ready');
    assert.equal(calls[0].init.headers.Authorization, 'Bearer imgarc1.tok');
    assert.equal(calls[0].init.credentials, 'omit');
    assert.equal(calls[1].url, '/api/v1/bills/a%2Fb');
    assert.ok(Number(calls[1].init.headers['X-Imgarc-Min-Index']) >= 41);
    assert.equal(calls[1].init.headers['Idempotency-Key'], undefined);
    assert.equal(api.seenIndex() >= 41, true, 'a lower index does not lower it');
});

test('a write carries an Idempotency-Key, retried once with the same key after a 503', async () => {
    answers.push({status: 503, body: {code: 10503, error: 'unavailable', message: 'no leader',
                                      request_id: 'r1'}});
    answers.push({body: {index: 1000}});
    const r = await api.post(['bills', 'BX-1', 'submit'], {});
    assert.equal(r.index, 1000);
    assert.equal(calls.length, 2);
    const k = calls[0].init.headers['Idempotency-Key'];
    assert.match(k, /^[0-9a-f]{32}$/);
    assert.equal(calls[1].init.headers['Idempotency-Key'], k);
    assert.equal(calls[0].init.headers['X-Imgarc-Min-Index'], undefined);
    assert.equal(api.seenIndex(), 1000, 'a write\'s index is kept for the next read');
});

test('a network error on a write is retried once; then the error says what to check', async () => {
    answers.push(new TypeError('Failed to fetch'));
    answers.push(new TypeError('Failed to fetch'));
    await assert.rejects(api.post(['files', 'f1', 'link'], {}), (e) => {
        assert.equal(e.status, 0);
        assert.match(e.message, /did not answer/);
        return true;
    });
    assert.equal(calls.length, 2);
    const key = (c) => c.init.headers['Idempotency-Key'];
    assert.equal(key(calls[1]), key(calls[0]));
});

test('an error keeps the API\'s message and request id; a 401 ends the session', async () => {
    let seen = null;
    api.onUnauthorized((e) => {
        seen = e;
        session.end();
    });
    answers.push({status: 404, body: {code: 11002, error: 'bill_not_found', message: 'no bill X',
                                      request_id: 'rq-1'}});
    await assert.rejects(api.get(['bills', 'X']), (e) => e.status === 404 && e.code === 11002 &&
                         e.message === 'no bill X' && e.requestId === 'rq-1');
    assert.equal(seen, null);
    answers.push({status: 401, body: {code: 10401, error: 'unauthorized', message: 'expired',
                                      request_id: 'rq-2'}, headers: {'X-Request-Id': 'rq-2'}});
    await assert.rejects(api.get(['bills']), (e) => e.status === 401);
    assert.equal(seen.requestId, 'rq-2');
    assert.equal(session.token(), null);
    // A sign-in's 401 (no token sent) is the caller's to show, not a session end.
    seen = null;
    answers.push({status: 401, body: {code: 10401, error: 'unauthorized', message: 'wrong'}});
    await assert.rejects(api.post(['auth', 'login'], {}, {auth: false, idempotent: false}));
    assert.equal(seen, null);
    assert.equal(calls.at(-1).init.headers['Idempotency-Key'], undefined);
    assert.equal(calls.at(-1).init.headers.Authorization, undefined);
});

test('429 answers carry Retry-After', async () => {
    answers.push({status: 429, body: {code: 10429, error: 'too_many_requests', message: 'wait'},
                  headers: {'Retry-After': '7'}});
    await assert.rejects(api.post(['auth', 'login'], {}, {auth: false, idempotent: false}),
                         (e) => e.retryAfter === 7 && e.code === 10429);
});
