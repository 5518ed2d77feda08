// What the administration pages share: the tabs, tables, a confirmation in the page
// (never window.confirm), a secret shown once with a copy button, and buttons that
// show the API's error next to them.
import {fill, h, hashLink} from '../../dom.js';
import {t} from '../../i18n.js';
import {routes} from '../../router.js';
import {session} from '../../session.js';
import {errorBox} from '../bills.js';

export {errorBox};

// The tabs, in order; "tenants" only for the operator.
const TABS = ['users', 'roles', 'orgs', 'clients', 'webhooks', 'types', 'categories', 'usage',
              'license', 'audit', 'datasources', 'migrations'];

export function tabs(active) {
    const s = session.current();
    const all = s && s.kind === 'operator' ? [...TABS, 'tenants'] : TABS;
    return h('nav', {class: 'admin-tabs', 'data-testid': 'admin-tabs'},
             all.map((p) => hashLink(routes.admin(p), {
                 class: 'tab' + (p === active ? ' active' : ''),
                 'aria-current': p === active ? 'page' : null, 'data-testid': 'tab-' + p,
             }, t('adm_tab_' + p))));
}

// The frame of one page: tabs, the title (with the operator's tenant), then @body.
export function frame(el, active, title, ...body) {
    const s = session.current();
    fill(el, tabs(active),
         h('h1', null, title,
           s && s.kind === 'operator'
               ? h('span', {class: 'adm-tenant', 'data-testid': 'adm-tenant'},
                   ' · ' + t('tenant') + ' ' + s.tenant) : null),
         ...body);
}

// A table with a header row of @heads (texts) and @rows (arrays of cells).
export function table(testid, heads, rows) {
    return h('table', {class: 'list', 'data-testid': testid},
             h('thead', null, h('tr', null, heads.map((x) => h('th', {scope: 'col'}, x)))),
             h('tbody', null, rows));
}

// A message area: ok(text) or fail(error).
export function messages() {
    const el = h('div', {class: 'adm-msg', 'aria-live': 'polite', 'data-testid': 'adm-msg'});
    return {
        el,
        ok: (text) => fill(el, h('p', {class: 'ok', 'data-testid': 'adm-ok'}, text)),
        fail: (e) => fill(el, errorBox(e)),
        clear: () => fill(el),
    };
}

// A button that runs @fn (async) once at a time; an error goes to @msg.
export function action(label, fn, msg, attrs = {}) {
    const b = h('button', {type: 'button', ...attrs, onclick: async () => {
        b.disabled = true;
        msg.clear();
        try {
            await fn();
        } catch (e) {
            msg.fail(e);
        } finally {
            b.disabled = false;
        }
    }}, label);
    return b;
}

// Asks in a modal <dialog> of the page; resolves true for @yes, false otherwise.
export function confirmIn(text, yes) {
    return new Promise((resolve) => {
        const d = h('dialog', {class: 'adm-confirm', 'data-testid': 'confirm'});
        const done = (v) => {
            d.close();
            d.remove();
            resolve(v);
        };
        fill(d, h('p', null, text),
             h('div', {class: 'buttons'},
               h('button', {type: 'button', class: 'danger', 'data-testid': 'confirm-yes',
                            onclick: () => done(true)}, yes),
               h('button', {type: 'button', class: 'secondary', 'data-testid': 'confirm-no',
                            onclick: () => done(false)}, t('adm_cancel'))));
        d.addEventListener('cancel', () => done(false));
        document.body.appendChild(d);
        d.showModal();
    });
}

// A secret shown once: the value, a copy button and the warning that it cannot be
// shown again.
export function secretOnce(testid, label, secret) {
    const copied = h('span', {class: 'copied'});
    return h('div', {class: 'secret-once', role: 'alert', 'data-testid': testid},
             h('p', {class: 'warn'}, t('adm_secret_once')),
             h('p', null, label, ' ', h('code', {class: 'secret', 'data-testid': 'secret'}, secret),
               ' ', h('button', {type: 'button', class: 'secondary', 'data-testid': 'copy-secret',
                                 onclick: async () => {
                                     try {
                                         await navigator.clipboard.writeText(secret);
                                         fill(copied, t('adm_copied'));
                                     } catch {
                                         fill(copied, t('adm_copy_failed'));
                                     }
                                 }}, t('copy')), ' ', copied));
}

// A labelled input; returns [wrapper, input].
export function field(id, label, attrs = {}) {
    const input = h('input', {id, name: id, spellcheck: 'false', ...attrs});
    return [h('div', {class: 'field'}, h('label', {for: id}, label), input), input];
}

// A <select> of @options ([value, label]) with @selected.
export function select(id, options, selected) {
    return h('select', {id, name: id},
             options.map(([v, l]) => h('option', {value: v, selected: v === selected}, l)));
}

// Check boxes for @names; returns [wrapper, () => the checked names].
export function checks(prefix, names, checked, labelOf = (n) => n) {
    const boxes = names.map((n) => h('input', {type: 'checkbox', id: prefix + n, value: n,
                                               checked: checked.includes(n),
                                               'data-testid': prefix + n}));
    return [h('div', {class: 'checks'},
              boxes.map((b, i) => h('label', {for: b.id, class: 'check'}, b,
                                    ' ' + labelOf(names[i])))),
            () => boxes.filter((b) => b.checked).map((b) => b.value)];
}

export const PERMISSIONS = ['read', 'capture', 'edit', 'delete', 'amend', 'submit', 'match',
                            'review', 'admin', 'hold'];
