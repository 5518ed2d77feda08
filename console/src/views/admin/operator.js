// The sign-in page's "Operator" tab: the operator token is exchanged for a short-lived
// one (POST /api/v1/auth/operator) and only that is kept in sessionStorage; the token
// typed is cleared from the field at once (console-design.md section 4).
import * as api from '../../api.js';
import {fill, h} from '../../dom.js';
import {t} from '../../i18n.js';
import {go, routes} from '../../router.js';
import {session} from '../../session.js';

// The tab bar over the user's sign-in form @userForm and the operator's form.
export function signInTabs(route, userForm) {
    const token = h('input', {id: 'op-token', name: 'op-token', type: 'password',
                              autocomplete: 'off', required: true, spellcheck: 'false'});
    const tenant = h('input', {id: 'op-tenant', name: 'op-tenant', value: 'default',
                               required: true, spellcheck: 'false'});
    const message = h('div', {class: 'message', role: 'alert', 'aria-live': 'polite',
                              'data-testid': 'op-message'});
    const button = h('button', {type: 'submit', 'data-testid': 'op-sign-in'}, t('sign_in'));
    const opForm = h('form', {class: 'login', 'data-testid': 'op-form',
                              onsubmit: submit},
                     h('h1', null, t('op_title')),
                     h('p', {class: 'note'}, t('op_note')),
                     h('label', {for: 'op-token'}, t('op_token')), token,
                     h('label', {for: 'op-tenant'}, t('op_tenant')), tenant,
                     button, message);
    const userTab = h('button', {type: 'button', class: 'tab active', 'aria-pressed': 'true',
                                 'data-testid': 'tab-user', onclick: () => pick(false)},
                      t('op_tab_user'));
    const opTab = h('button', {type: 'button', class: 'tab', 'aria-pressed': 'false',
                               'data-testid': 'tab-operator', onclick: () => pick(true)},
                    t('op_tab_operator'));

    // The operator's form is in the page only while its tab is picked.
    function pick(op) {
        userForm.hidden = op;
        if (op) {
            wrap.appendChild(opForm);
        } else {
            opForm.remove();
        }
        userTab.classList.toggle('active', !op);
        opTab.classList.toggle('active', op);
        userTab.setAttribute('aria-pressed', String(!op));
        opTab.setAttribute('aria-pressed', String(op));
        (op ? token : userForm.querySelector('input')).focus();
    }

    async function submit(ev) {
        ev.preventDefault();
        fill(message);
        button.disabled = true;
        const typed = token.value;
        token.value = ''; // never kept: only the short token below is
        try {
            const r = await api.post(['auth', 'operator'], {token: typed},
                                     {auth: false, idempotent: false});
            session.start({access_token: r.access_token, tenant: tenant.value.trim() || 'default',
                           username: 'operator', roles: [], expires_in: r.expires_in,
                           kind: 'operator'});
            try {
                session.update(await api.get(['auth', 'me']));
            } catch {
                // shown on the next page's call
            }
            const next = route.query.next;
            go(typeof next === 'string' && next.startsWith('#/') && !next.startsWith('#/login')
                ? next : routes.cluster());
        } catch (e) {
            fill(message, h('p', {class: 'error', 'data-testid': 'op-error'},
                            e.status === 401 ? t('op_wrong') : e.status === 429
                                ? t('throttled', e.retryAfter ?? 5) : e.message));
        } finally {
            button.disabled = false;
        }
    }

    const wrap = h('div', {class: 'sign-in'},
                   h('div', {class: 'tabs', role: 'group'}, userTab, opTab), userForm);
    return wrap;
}
