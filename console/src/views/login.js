// Sign-in (POST /api/v1/auth/login) and sign-out (POST /api/logout.do, which ends the
// token on every node). Messages: a wrong password or unknown user (one answer for
// both, 401), a locked account (403 / 10423, with its unlock time in local time) and
// the per-address brake (429, counted down from Retry-After).
import * as api from '../api.js';
import {fill, h} from '../dom.js';
import {localTime} from '../format.js';
import {t} from '../i18n.js';
import {go, routes} from '../router.js';
import {session} from '../session.js';
import {signInTabs} from './admin/operator.js';

let countdown = null;

export function renderLogin(route, el) {
    const notice = sessionStorage.getItem('imgarc.notice');
    sessionStorage.removeItem('imgarc.notice');
    const tenant = h('input', {id: 'tenant', name: 'tenant', autocomplete: 'organization',
                               value: session.lastTenant() || 'default', required: true,
                               spellcheck: 'false'});
    const user = h('input', {id: 'username', name: 'username', autocomplete: 'username',
                             required: true, spellcheck: 'false', autofocus: true});
    const password = h('input', {id: 'password', name: 'password', type: 'password',
                                 autocomplete: 'current-password', required: true});
    const button = h('button', {type: 'submit', 'data-testid': 'sign-in'}, t('sign_in'));
    const message = h('div', {class: 'message', role: 'alert', 'aria-live': 'polite',
                              'data-testid': 'login-message'});
    if (notice) {
        fill(message, h('p', {class: 'notice'}, t(notice)));
    }
    const form = h('form', {class: 'login', onsubmit: submit},
                   h('h1', null, t('login_title')),
                   h('label', {for: 'tenant'}, t('tenant')), tenant,
                   h('label', {for: 'username'}, t('user_name')), user,
                   h('label', {for: 'password'}, t('password')), password,
                   button, message);
    fill(el, signInTabs(route, form));
    (session.lastTenant() ? user : tenant).focus();

    async function submit(ev) {
        ev.preventDefault();
        if (countdown !== null) {
            return;
        }
        fill(message);
        button.disabled = true;
        try {
            const login = await api.post(['auth', 'login'], {
                tenant: tenant.value.trim(), username: user.value.trim(),
                password: password.value,
            }, {auth: false, idempotent: false});
            session.start(login);
            password.value = '';
            try {
                session.update(await api.get(['auth', 'me']));
            } catch (e) {
                // A node without GET /auth/me (404): permissions come from the
                // built-in roles; anything else is shown on the next page's call.
                if (e.status === 401) {
                    return;
                }
            }
            const next = route.query.next;
            go(typeof next === 'string' && next.startsWith('#/') && !next.startsWith('#/login')
                ? next : routes.bills());
        } catch (e) {
            showError(e);
        } finally {
            if (countdown === null) {
                button.disabled = false;
            }
        }
    }

    function showError(e) {
        password.value = '';
        fill(message, failure(e, tenant.value.trim() || 'default', button), requestId(e));
        password.focus();
    }
}

// What a failed sign-in says. A 429 disables @button and counts down Retry-After.
function failure(e, tenant, button) {
    if (e.status === 403 && e.code === 10423) {
        const m = /locked until (\S+?);/.exec(e.message);
        return h('p', {class: 'error', 'data-testid': 'locked'},
                 m ? t('locked', localTime(m[1])) : e.message);
    }
    if (e.status === 401) {
        return h('p', {class: 'error', 'data-testid': 'wrong-password'},
                 t('wrong_password', tenant));
    }
    if (e.status !== 429) {
        return h('p', {class: 'error'}, e.message);
    }
    let left = e.retryAfter ?? 5;
    const p = h('p', {class: 'error', 'data-testid': 'throttled'});
    const tick = () => {
        fill(p, t('throttled', left));
        if (left-- <= 0) {
            clearInterval(countdown);
            countdown = null;
            button.disabled = false;
            fill(p, t('try_again_now'));
        }
    };
    button.disabled = true;
    clearInterval(countdown);
    countdown = setInterval(tick, 1000);
    tick();
    return p;
}

function requestId(e) {
    return e.requestId
        ? h('p', {class: 'request-id'}, t('request_id'), h('code', null, e.requestId))
        : null;
}

export async function signOut() {
    const token = session.token();
    session.end();
    if (token) {
        try {
            await api.call('/api/logout.do', {method: 'POST', body: {access_token: token},
                                              auth: false, idempotent: false});
        } catch {
            // The token is dropped here anyway; it expires by itself.
        }
    }
    sessionStorage.setItem('imgarc.notice', 'signed_out');
    go(routes.login());
}
