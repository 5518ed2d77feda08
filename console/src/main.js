// The console's entry point (docs/console.md): the frame (header with the user and
// tenant, the page, the footer with the node's version and the last error's request
// id) and the hash routes. Every page is a function render(route, el).
import * as api from './api.js';
import {fill, h, hashLink} from './dom.js';
import {currentLang, LANGS, setLang, t} from './i18n.js';
import {go, routes, startRouter} from './router.js';
import {session} from './session.js';
import {renderLogin, signOut} from './views/login.js';
import {renderBills} from './views/bills.js';
import {renderBill} from './views/bill.js';
import {renderEvent} from './views/event.js';
import {renderCapture} from './views/capture.js';
import {renderSubmit} from './views/submit.js';
import {renderBatch, renderMatch} from './views/match.js';
import {renderWorklist} from './views/lists.js';
import {nodeBanner, watchNodes} from './nodes.js';

const root = document.getElementById('app');
const header = h('header', {class: 'top'});
const page = h('div', {class: 'content', id: 'content'});
const lastError = h('span', {class: 'last-error', 'data-testid': 'last-error'});
const version = h('span', {class: 'version', 'data-testid': 'version'});
const langSwitch = h('select', {class: 'lang', 'aria-label': t('language'), 'data-testid': 'lang',
                                onchange: (ev) => {
                                    setLang(ev.target.value);
                                    location.reload();
                                }},
                     Object.entries(LANGS).map(([code, name]) =>
                         h('option', {value: code, selected: code === currentLang()}, name)));
document.documentElement.setAttribute('lang', currentLang());
const footer = h('footer', {class: 'bottom'}, version, lastError, h('span', {class: 'spacer'}),
                 langSwitch);
fill(root, nodeBanner(), header, page, footer);

let current = null; // the route being shown, for the sign-in's return

api.onError((err) => {
    if (!err.requestId) {
        return;
    }
    const id = err.requestId;
    fill(lastError, t('last_error'), h('code', null, id), ' ',
         h('button', {type: 'button', class: 'link', title: t('copy_title'),
                      onclick: () => navigator.clipboard?.writeText(id)}, t('copy')));
});

api.onUnauthorized(() => {
    session.end();
    const next = current && current.name !== 'login' ? location.hash : '';
    sessionStorage.setItem('imgarc.notice', 'session_ended');
    go(routes.login(next));
});

function renderHeader() {
    const s = session.current();
    fill(header,
         h('span', {class: 'brand'}, t('brand')),
         s ? h('nav', null, hashLink(routes.bills(), {class: 'nav'}, t('nav_bills')),
               session.can('capture')
                   ? hashLink(routes.capture(), {class: 'nav', 'data-testid': 'nav-capture'},
                              t('nav_capture')) : null,
               // submitting and signing off
               ' ', hashLink(routes.worklist('signoff'), {class: 'nav', 'data-testid': 'nav-signoff'},
                             t('nav_signoff')),
               ' ', hashLink(routes.worklist('rescan'), {class: 'nav', 'data-testid': 'nav-rescan'},
                             t('nav_rescan')),
               ' ', hashLink(routes.worklist('upload'), {class: 'nav', 'data-testid': 'nav-upload'},
                             t('nav_upload')),
               s.admin ? hashLink(routes.admin('users'), {class: 'nav', 'data-testid': 'nav-admin'},
                                  t('adm_nav')) : null,
               s.kind === 'operator' ? hashLink(routes.cluster(), {class: 'nav',
                                                                   'data-testid': 'nav-cluster'},
                                                t('cl_nav')) : null) : null,
         h('span', {class: 'spacer'}),
         s ? h('span', {class: 'who', 'data-testid': 'who'},
               h('span', {class: 'user'}, s.name || s.username),
               h('span', {class: 'tenant', title: t('tenant')}, t('tenant') + ' ', s.tenant),
               s.roles.length ? h('span', {class: 'roles'}, s.roles.join(', ')) : null) : null,
         s ? h('button', {type: 'button', class: 'secondary', 'data-testid': 'sign-out',
                          onclick: () => signOut()}, t('sign_out')) : null);
}

// The footer's version line. Node ids are 64-bit, so answers carry them as strings
// (JSON.parse would round a number above 2^53).
async function loadVersion() {
    try {
        const res = await fetch(api.apiPath(['version']), {credentials: 'omit', cache: 'no-store'});
        if (!res.ok) {
            throw new Error(`HTTP ${res.status}`);
        }
        const v = await res.json();
        fill(version, t('version', v.version, v.git_commit ? String(v.git_commit).slice(0, 12) : '',
                        String(v.node_id)));
    } catch {
        fill(version, t('version_unknown'));
    }
}

function render(route) {
    current = route;
    const s = session.current();
    // An event code's page needs no sign-in: the code in its address is the credential.
    if (route.name === 'event') {
        renderHeader();
        const el = h('section', {class: 'view view-event'});
        fill(page, el);
        renderEvent(route, el);
        return;
    }
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
    watchNodes();
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
    case 'capture':
        renderCapture(route, el);
        break;
    case 'submit':
        renderSubmit(route, el);
        break;
    case 'match':
        renderMatch(route, el);
        break;
    case 'batch':
        renderBatch(route, el);
        break;
    case 'worklist':
        renderWorklist(route, el);
        break;
    case 'admin': // loaded on demand: most users never open these pages
        import('./views/admin/index.js').then((m) => current === route && m.renderAdmin(route, el));
        break;
    case 'cluster':
        import('./views/cluster.js').then((m) => current === route && m.renderCluster(route, el));
        break;
    default:
        fill(el, h('h1', null, t('not_found_title')),
             h('p', null, t('not_found_text')),
             hashLink(routes.bills(), null, t('go_bills')));
    }
}

loadVersion();
startRouter(render);
