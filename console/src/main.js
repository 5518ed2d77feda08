// The console's entry point (docs/console.md): the frame (header with the user and
// tenant, the page, the footer with the node's version and the last error's request
// id) and the hash routes. Every page is a function render(route, el).
import * as api from './api.js';
import {fill, h, hashLink} from './dom.js';
import {go, routes, startRouter} from './router.js';
import {session} from './session.js';
import {renderLogin, signOut} from './views/login.js';
import {renderBills} from './views/bills.js';
import {renderBill} from './views/bill.js';

const root = document.getElementById('app');
const header = h('header', {class: 'top'});
const page = h('div', {class: 'content', id: 'content'});
const lastError = h('span', {class: 'last-error', 'data-testid': 'last-error'});
const version = h('span', {class: 'version', 'data-testid': 'version'});
const footer = h('footer', {class: 'bottom'}, version, lastError);
fill(root, header, page, footer);

let current = null; // the route being shown, for the sign-in's return

api.onError((err) => {
    if (!err.requestId) {
        return;
    }
    const id = err.requestId;
    fill(lastError, 'Last error: request ', h('code', null, id), ' ',
         h('button', {type: 'button', class: 'link', title: 'Copy the request id',
                      onclick: () => navigator.clipboard?.writeText(id)}, 'Copy'));
});

api.onUnauthorized(() => {
    session.end();
    const next = current && current.name !== 'login' ? location.hash : '';
    sessionStorage.setItem('imgarc.notice',
                           'Your session has ended (expired, signed out or locked). Sign in again.');
    go(routes.login(next));
});

function renderHeader() {
    const s = session.current();
    fill(header,
         h('span', {class: 'brand'}, 'imgarc'),
         s ? h('nav', null, hashLink(routes.bills(), {class: 'nav'}, 'Bills')) : null,
         h('span', {class: 'spacer'}),
         s ? h('span', {class: 'who', 'data-testid': 'who'},
               h('span', {class: 'user'}, s.name || s.username),
               h('span', {class: 'tenant', title: 'Tenant'}, s.tenant),
               s.roles.length ? h('span', {class: 'roles'}, s.roles.join(', ')) : null) : null,
         s ? h('button', {type: 'button', class: 'secondary', 'data-testid': 'sign-out',
                          onclick: () => signOut()}, 'Sign out') : null);
}

async function loadVersion() {
    try {
        const v = await api.get(['version'], null, {auth: false});
        fill(version, `imgarc ${v.version}`,
             v.git_commit ? ` (${String(v.git_commit).slice(0, 12)})` : '',
             ` · node ${v.node_id}`);
    } catch {
        fill(version, 'imgarc (version unknown: the node did not answer)');
    }
}

function render(route) {
    current = route;
    const s = session.current();
    if (route.name !== 'login' && (!s || s.expires <= Date.now())) {
        if (s) {
            session.end();
        }
        go(routes.login(location.hash && location.hash !== '#/' ? location.hash : ''));
        return;
    }
    if (route.name === 'login' && s) {
        go(routes.bills());
        return;
    }
    renderHeader();
    const el = h('section', {class: 'view view-' + route.name});
    fill(page, el);
    document.title = 'imgarc';
    switch (route.name) {
    case 'login':
        renderLogin(route, el);
        break;
    case 'bills':
        renderBills(route, el);
        break;
    case 'bill':
        renderBill(route, el);
        break;
    default:
        fill(el, h('h1', null, 'Page not found'),
             h('p', null, 'This address names no page of the console. '),
             hashLink(routes.bills(), null, 'Go to the bill list'));
    }
}

loadVersion();
startRouter(render);
