// The other nodes of the cluster, for when this one stops answering (docs/console.md,
// "When a node goes down"). A page talks only to the node that served it (same
// origin; the token is in that origin's sessionStorage), so when that node is gone
// the console can only point the user to the others: after sign-in and every minute
// while signed in it asks GET /api/v1/nodes and keeps the list in sessionStorage; when
// a call gets no answer (fetch rejects) or a 503, a banner at the top names this node
// and links to every other node's console, where the user signs in again. The banner
// goes once a call is answered again.
import * as api from './api.js';
import {fill, h} from './dom.js';
import {t} from './i18n.js';
import {linkTarget, otherNodes} from './nodelist.js';
import {session} from './session.js';

const KEY = 'imgarc.nodes';
export const POLL_MS = 60 * 1000;

export function savedNodes() {
    try {
        const v = JSON.parse(sessionStorage.getItem(KEY) || 'null');
        return Array.isArray(v) ? v : [];
    } catch {
        return [];
    }
}

const banner = h('div', {class: 'node-down', role: 'alert', hidden: true,
                         'data-testid': 'node-down'});
let down = false;
let timer = null;

// The banner's element, placed by main.js at the top of the page.
export function nodeBanner() {
    return banner;
}

function show() {
    const others = otherNodes(savedNodes(), location.origin);
    const list = h('ul', {class: 'node-list'}, others.map((n) => {
        const a = h('a', {class: 'node-link', 'data-testid': 'node-link'}, n.url);
        a.setAttribute('href', linkTarget(n.url, location.hash));
        a.setAttribute('rel', 'noopener noreferrer');
        return h('li', null, a, n.zone ? h('span', {class: 'muted'}, ' ' + t('nd_zone', n.zone)) : null,
                 n.health && n.health !== 'ok'
                     ? h('span', {class: 'muted'}, ' ' + t('nd_health', n.health)) : null);
    }));
    fill(banner,
         h('p', {class: 'node-down-title'}, t('nd_title', location.host)),
         others.length ? list : h('p', null, t('nd_none')),
         others.length ? h('p', {class: 'note'}, t('nd_hint')) : null);
    banner.hidden = false;
}

// From api.js after every call: @answered false for no answer or a 503.
function reached(answered) {
    if (!answered) {
        down = true;
        show();
    } else if (down) {
        down = false;
        banner.hidden = true;
        fill(banner);
    }
}

async function refresh() {
    if (!session.current()) {
        return;
    }
    try {
        // Quiet: a 401 here must not race the page's own call that ends the session.
        const r = await api.get(['nodes'], undefined, {quiet: true});
        if (r && Array.isArray(r.nodes)) {
            sessionStorage.setItem(KEY, JSON.stringify(r.nodes));
        }
    } catch {
        // no answer: the banner shows what the last answer listed
    }
}

// Called on every page: asks for the list once signed in and then every POLL_MS,
// stops when signed out.
export function watchNodes() {
    if (session.current()) {
        if (timer === null) {
            refresh();
            timer = setInterval(refresh, POLL_MS);
        }
    } else if (timer !== null) {
        clearInterval(timer);
        timer = null;
    }
}

api.onReach(reached);
