// The console's only way to the native API (docs/API.md): relative /api/v1 URLs built
// from encoded segments, the user's Bearer token, errors as ApiError with the API's
// message and request id, an Idempotency-Key on every write (retried once with the
// same key after a network error or a 503), and read-your-writes through
// X-Imgarc-Min-Index (console-design.md 1.8).

import {t} from './i18n.js';
import {session} from './session.js';

export class ApiError extends Error {
    constructor(status, body, requestId, retryAfter) {
        const b = body && typeof body === 'object' ? body : {};
        super(typeof b.message === 'string' && b.message !== ''
            ? b.message : `HTTP ${status} from the node`);
        this.status = status;
        this.code = Number.isInteger(b.code) ? b.code : 0;
        this.error = typeof b.error === 'string' ? b.error : '';
        this.requestId = typeof b.request_id === 'string' ? b.request_id : (requestId || '');
        this.retryAfter = retryAfter;
    }
}

// "/api/v1/" + the segments, each percent-encoded whole ("a/b" stays one segment),
// then the query from @query's entries whose value is neither undefined, null nor "".
export function apiPath(segments, query) {
    for (const s of segments) {
        if (typeof s !== 'string' || s === '') {
            throw new TypeError('apiPath(): every segment is a non-empty string');
        }
    }
    let p = '/api/v1/' + segments.map(encodeURIComponent).join('/');
    const q = queryString(query);
    return q === '' ? p : p + '?' + q;
}

export function queryString(query) {
    if (!query) {
        return '';
    }
    const parts = [];
    for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === null || v === '') {
            continue;
        }
        parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(v)));
    }
    return parts.join('&');
}

// The path of a signed link answer's "url" (absolute, on this node's Host, or a path
// alone), or null when it is not one of this origin's /api/v1/links/.
export function linkPath(url, origin) {
    if (typeof url !== 'string') {
        return null;
    }
    let u;
    try {
        u = new URL(url, origin);
    } catch {
        return null;
    }
    if (u.origin !== origin || !u.pathname.startsWith('/api/v1/links/') ||
        u.pathname.length <= '/api/v1/links/'.length || u.search !== '' || u.hash !== '') {
        return null;
    }
    return u.pathname;
}

// An Idempotency-Key: 32 hex digits from the CSPRNG (crypto.randomUUID needs a
// secure context, which a node on plain http:// on the LAN is not).
export function newKey() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// The highest raft index seen from this node (X-Imgarc-Index, or a write's "index").
let minIndex = 0;
export function noteIndex(i) {
    const n = Number(i);
    if (Number.isSafeInteger(n) && n > minIndex) {
        minIndex = n;
    }
}
export function seenIndex() {
    return minIndex;
}

// Listeners: onUnauthorized(err) for a 401 with a token (the session is over),
// onError(err) for every ApiError (the footer shows the last request id).
const hooks = {unauthorized: null, error: null, reach: null};
export function onUnauthorized(fn) {
    hooks.unauthorized = fn;
}
export function onError(fn) {
    hooks.error = fn;
}
// onReach(answered): after every call, false when the node gave no answer or a 503
// (the other nodes' banner, nodes.js), true for any other answer.
export function onReach(fn) {
    hooks.reach = fn;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One call. @opts: method (GET), body (an object, sent as JSON), auth (true: the
// session's token), key (the Idempotency-Key of a write; made here when not given),
// signal, expect (a status that is no error for the footer), quiet (a background
// call: its errors, a 401 included, go to no listener but onReach's; the page's own
// calls report them). Answers the parsed JSON body; throws ApiError.
export async function call(path, opts = {}) {
    const method = opts.method || 'GET';
    path = withOperatorTenant(path, opts);
    const write = method !== 'GET' && method !== 'HEAD';
    const headers = {Accept: 'application/json'};
    const auth = opts.auth !== false;
    const token = auth ? session.token() : null;
    if (token) {
        headers.Authorization = 'Bearer ' + token;
        if (!write && minIndex > 0) {
            headers['X-Imgarc-Min-Index'] = String(minIndex);
        }
    }
    let body;
    if (opts.body !== undefined) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(opts.body);
    }
    if (write && opts.idempotent !== false) {
        headers['Idempotency-Key'] = opts.key || newKey();
    }
    for (let attempt = 0; ; attempt++) {
        let res;
        try {
            res = await fetch(path, {method, headers, body, signal: opts.signal,
                                     cache: 'no-store', credentials: 'omit'});
        } catch (e) {
            if (e && e.name === 'AbortError') {
                throw e;
            }
            if (write && attempt === 0 && opts.idempotent !== false) {
                await sleep(1000);
                continue;
            }
            hooks.reach?.(false);
            const err = new ApiError(0, {message: t('no_answer',
                                                    e && e.message ? e.message : 'network error')},
                                     '', null);
            if (hooks.error && !opts.quiet) {
                hooks.error(err);
            }
            throw err;
        }
        noteIndex(res.headers.get('X-Imgarc-Index'));
        hooks.reach?.(res.status !== 503);
        const text = await res.text();
        let data = null;
        if (text !== '') {
            try {
                data = JSON.parse(text);
            } catch {
                data = null;
            }
        }
        if (res.ok) {
            if (data && typeof data === 'object' && write) {
                noteIndex(data.index);
            }
            return data;
        }
        if (res.status === 503 && write && attempt === 0 && opts.idempotent !== false) {
            await sleep(1000);
            continue;
        }
        const ra = res.headers.get('Retry-After');
        const err = new ApiError(res.status, data, res.headers.get('X-Request-Id'),
                                 ra !== null && /^[0-9]+$/.test(ra) ? Number(ra) : null);
        // opts.expect: a status the caller expects (the capture page's 404 of a new bill),
        // not an error to show in the footer.
        if (hooks.error && res.status !== opts.expect && !opts.quiet) {
            hooks.error(err);
        }
        if (res.status === 401 && token && hooks.unauthorized && !opts.quiet) {
            hooks.unauthorized(err);
        }
        throw err;
    }
}

// The operator acts for the tenant it picked (?tenant= on every call that has none).
function withOperatorTenant(path, opts) {
    const s = opts.auth === false ? null : session.current();
    if (!s || s.kind !== 'operator' || !s.tenant || /[?&]tenant=/.test(path)) {
        return path;
    }
    return path + (path.includes('?') ? '&' : '?') + 'tenant=' + encodeURIComponent(s.tenant);
}

export const get = (segments, query, opts) => call(apiPath(segments, query), opts);
export const post = (segments, body, opts = {}) =>
    call(apiPath(segments), {...opts, method: 'POST', body});

// For calls made outside call() (the capture page's XMLHttpRequest uploads): tells the
// listeners about @err as call() does (@hadToken: the call carried the session's token).
export function reportError(err, hadToken) {
    if (hooks.error) {
        hooks.error(err);
    }
    if (err.status === 401 && hadToken && hooks.unauthorized) {
        hooks.unauthorized(err);
    }
}
export const patch = (segments, body, opts = {}) =>
    call(apiPath(segments), {...opts, method: 'PATCH', body});
export const put = (segments, body, opts = {}) =>
    call(apiPath(segments), {...opts, method: 'PUT', body});
export const del = (segments, opts = {}) => call(apiPath(segments), {...opts, method: 'DELETE'});
