// The plain logic of the other nodes' banner (nodes.js): which URLs of a GET
// /api/v1/nodes answer may become links, and where they lead. No DOM here (unit tests).
import {routes} from './router.js';

// The console address of a node list entry's "url": its origin and "/" when it is an
// http(s) URL without credentials, else null (a javascript: or data: URL, garbage).
export function consoleUrl(url) {
    if (typeof url !== 'string' || url === '') {
        return null;
    }
    let u;
    try {
        u = new URL(url);
    } catch {
        return null;
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username !== '' ||
        u.password !== '' || u.hostname === '') {
        return null;
    }
    return u.origin + '/';
}

// The entries of @nodes (a GET /nodes answer's list) other than the node at @origin,
// each {id, url (checked, see consoleUrl), health, zone}; entries without a usable URL
// are left out.
export function otherNodes(nodes, origin) {
    if (!Array.isArray(nodes)) {
        return [];
    }
    const out = [];
    for (const n of nodes) {
        const url = n && typeof n === 'object' ? consoleUrl(n.url) : null;
        if (url === null || url === origin + '/') {
            continue;
        }
        out.push({id: String(n.id ?? ''), url,
                  health: typeof n.health === 'string' ? n.health : '',
                  zone: typeof n.zone === 'string' ? n.zone : ''});
    }
    return out;
}

// Where a link to @base (a consoleUrl) leads: its sign-in page, then on to the page
// shown here (@hash, when it is a console route other than the sign-in).
export function linkTarget(base, hash) {
    const next = typeof hash === 'string' && hash.startsWith('#/') && !hash.startsWith('#/login')
        ? hash : '';
    return base + routes.login(next);
}
