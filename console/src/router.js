// Hash routes: "#/bills?state=captured", "#/bills/BX-1". The hash carries no secret
// (console-design.md section 4) but on one page: "#/event/<code>" holds a vendor event
// code, a short-lived credential an ERP hands a browser (views/event.js), kept in the
// fragment so that no server log or Referer sees it after the first redirect. parseHash() and the builders are plain functions
// (tests/unit/router.test.mjs).

// {name, params, query} for a hash; unknown hashes are {name: 'notfound'}.
export function parseHash(hash) {
    let h = (hash || '').replace(/^#/, '');
    if (h === '' || h === '/') {
        return {name: 'bills', params: {}, query: {}};
    }
    const qi = h.indexOf('?');
    const query = {};
    if (qi >= 0) {
        for (const [k, v] of new URLSearchParams(h.slice(qi + 1))) {
            query[k] = v;
        }
        h = h.slice(0, qi);
    }
    const parts = h.split('/').slice(1);
    let segs;
    try {
        segs = parts.map(decodeURIComponent);
    } catch {
        return {name: 'notfound', params: {}, query};
    }
    if (segs.length === 1 && segs[0] === 'login') {
        return {name: 'login', params: {}, query};
    }
    if (segs.length === 1 && segs[0] === 'bills') {
        return {name: 'bills', params: {}, query};
    }
    if (segs.length === 2 && segs[0] === 'bills' && segs[1] !== '') {
        return {name: 'bill', params: {imageNo: segs[1]}, query};
    }
    if (segs.length === 1 && segs[0] === 'capture') {
        return {name: 'capture', params: {}, query};
    }
    if (segs.length === 2 && segs[0] === 'capture' && segs[1] !== '') {
        return {name: 'capture', params: {imageNo: segs[1]}, query};
    }
    // Submitting and signing off (views/submit.js, match.js, lists.js).
    if (segs.length === 2 && segs[1] !== '' &&
        ['submit', 'match', 'batches'].includes(segs[0])) {
        return segs[0] === 'batches' ? {name: 'batch', params: {batch: segs[1]}, query}
            : {name: segs[0], params: {imageNo: segs[1]}, query};
    }
    if (segs.length === 2 && segs[0] === 'lists' && ['signoff', 'rescan', 'upload']
        .includes(segs[1])) {
        return {name: 'worklist', params: {list: segs[1]}, query};
    }
    // The page an event code opens (views/event.js).
    if (segs.length === 2 && segs[0] === 'event' && segs[1] !== '') {
        return {name: 'event', params: {code: segs[1]}, query};
    }
    // Administration (#/admin/users, #/admin/users/<name>, ...) and the cluster view.
    if (segs[0] === 'admin' && segs.length <= 3 && segs.every((s) => s !== '')) {
        return {name: 'admin', params: {page: segs[1] || 'users', arg: segs[2] || ''}, query};
    }
    if (segs.length === 1 && segs[0] === 'cluster') {
        return {name: 'cluster', params: {}, query};
    }
    return {name: 'notfound', params: {}, query};
}

function withQuery(path, query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query || {})) {
        if (v !== undefined && v !== null && v !== '') {
            q.set(k, String(v));
        }
    }
    const s = q.toString();
    return s === '' ? path : path + '?' + s;
}

export const routes = {
    login: (next) => withQuery('#/login', {next}),
    bills: (query) => withQuery('#/bills', query),
    bill: (imageNo, query) => withQuery('#/bills/' + encodeURIComponent(imageNo), query),
    capture: (imageNo) => (imageNo ? '#/capture/' + encodeURIComponent(imageNo) : '#/capture'),
    submit: (imageNo, query) => withQuery('#/submit/' + encodeURIComponent(imageNo), query),
    match: (imageNo) => '#/match/' + encodeURIComponent(imageNo),
    batch: (batch) => '#/batches/' + encodeURIComponent(batch),
    worklist: (list, query) => withQuery('#/lists/' + encodeURIComponent(list), query),
    admin: (page, arg, query) => withQuery('#/admin/' + encodeURIComponent(page || 'users') +
                                           (arg ? '/' + encodeURIComponent(arg) : ''), query),
    cluster: () => '#/cluster',
};

// Runs @render(route) now and on every hash change.
export function startRouter(render) {
    const run = () => render(parseHash(location.hash));
    window.addEventListener('hashchange', run);
    run();
}

export function go(hash) {
    if (location.hash === hash) {
        window.dispatchEvent(new HashChangeEvent('hashchange'));
    } else {
        location.hash = hash;
    }
}
