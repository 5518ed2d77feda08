// Users (docs/API.md "Users and roles"): the list with state, failures, roles and
// grants; creating one; a user's page to change name and roles, reset the password
// (the admin types it), unlock, disable or enable, delete, and set the grants.
import * as api from '../../api.js';
import {fill, h, hashLink} from '../../dom.js';
import {localTime} from '../../format.js';
import {t} from '../../i18n.js';
import {go, routes} from '../../router.js';
import {action, checks, confirmIn, field, frame, messages, table} from './common.js';

function grantsText(grants) {
    if (!Array.isArray(grants) || grants.length === 0) {
        return t('adm_no_grants');
    }
    return grants.map((g) => g.org === '*' ? t('adm_all_orgs')
        : g.org + (g.include_children ? ' ' + t('adm_and_children') : '')).join(', ');
}

function stateOf(u) {
    if (u.disabled) {
        return h('span', {class: 'badge off', 'data-testid': 'user-disabled'}, t('adm_disabled'));
    }
    if (u.locked_until && Date.parse(u.locked_until) > Date.now()) {
        return h('span', {class: 'badge warn', 'data-testid': 'user-locked'},
                 t('adm_locked_until', localTime(u.locked_until)));
    }
    return h('span', {class: 'badge ok'}, t('adm_active'));
}

export async function renderUsers(route, el) {
    const msg = messages();
    const list = h('div', {'aria-busy': 'true'}, t('loading'));
    const [fUser, user] = field('nu-username', t('user_name'), {required: true});
    const [fName, name] = field('nu-name', t('adm_name'));
    const [fPass, pass] = field('nu-password', t('password'), {type: 'password', required: true,
                                                              autocomplete: 'new-password'});
    const roleBox = h('div', {class: 'field'});
    let getRoles = () => [];
    const form = h('form', {class: 'adm-form', 'data-testid': 'new-user', onsubmit: async (ev) => {
        ev.preventDefault();
        msg.clear();
        try {
            await api.post(['users'], {username: user.value.trim(), password: pass.value,
                                       roles: getRoles(), name: name.value.trim() || undefined});
            msg.ok(t('adm_user_created', user.value.trim()));
            pass.value = '';
            user.value = '';
            name.value = '';
            await load();
        } catch (e) {
            msg.fail(e);
        }
    }}, h('h2', null, t('adm_new_user')), fUser, fName, fPass, roleBox,
    h('div', {class: 'field buttons'},
      h('button', {type: 'submit', 'data-testid': 'create-user'}, t('adm_create'))));
    frame(el, 'users', t('adm_users'), msg.el, list, form);

    async function load() {
        try {
            const [users, roles] = await Promise.all([api.get(['users']), api.get(['roles'])]);
            const [box, get] = checks('nu-role-', roles.roles.map((r) => r.name), ['scanner']);
            getRoles = get;
            fill(roleBox, h('span', {class: 'label'}, t('adm_roles')), box);
            fill(list, table('user-list', [t('user_name'), t('adm_name'), t('adm_state'),
                                           t('adm_failures'), t('adm_roles'), t('adm_grants'),
                                           t('created')],
                             users.users.map((u) => h('tr', {'data-testid': 'user-row'},
                                 h('td', null, hashLink(routes.admin('users', u.username),
                                                        {class: 'user-link'}, u.username)),
                                 h('td', null, u.name || ''),
                                 h('td', null, stateOf(u)),
                                 h('td', {class: 'num'}, String(u.failures ?? 0)),
                                 h('td', null, (u.roles || []).join(', ')),
                                 h('td', null, grantsText(u.grants)),
                                 h('td', null, localTime(u.created))))));
        } catch (e) {
            msg.fail(e);
            fill(list);
        }
        list.setAttribute('aria-busy', 'false');
    }
    await load();
}

// @notice: what the last action did, shown after the page is drawn again.
export async function renderUser(route, el, notice) {
    const username = route.params.arg;
    const msg = messages();
    const body = h('div', {'aria-busy': 'true'}, t('loading'));
    frame(el, 'users', t('adm_user', username), msg.el, body);
    let u, roles, orgs;
    try {
        [u, roles, orgs] = await Promise.all([api.get(['users', username]), api.get(['roles']),
                                              api.get(['orgs'])]);
    } catch (e) {
        msg.fail(e);
        fill(body, hashLink(routes.admin('users'), null, t('adm_back_users')));
        return;
    }
    const reload = (text) => renderUser(route, el, text);

    // Name and roles.
    const [fName, name] = field('eu-name', t('adm_name'), {value: u.name || ''});
    const [roleBox, getRoles] = checks('eu-role-', roles.roles.map((r) => r.name), u.roles || []);
    const edit = h('form', {class: 'adm-form', 'data-testid': 'edit-user', onsubmit: async (ev) => {
        ev.preventDefault();
        msg.clear();
        try {
            await api.patch(['users', username], {name: name.value.trim(), roles: getRoles()});
            await reload(t('adm_saved'));
        } catch (e) {
            msg.fail(e);
        }
    }}, h('h2', null, t('adm_name_roles')), fName,
    h('div', {class: 'field'}, h('span', {class: 'label'}, t('adm_roles')), roleBox),
    h('p', {class: 'note'}, t('adm_roles_note')),
    h('div', {class: 'field buttons'},
      h('button', {type: 'submit', 'data-testid': 'save-user'}, t('adm_save'))));

    // Password reset: the admin types the new one.
    const [fPass, pass] = field('eu-password', t('adm_new_password'),
                                {type: 'password', autocomplete: 'new-password'});
    const reset = h('form', {class: 'adm-form', 'data-testid': 'reset-password',
                             onsubmit: async (ev) => {
                                 ev.preventDefault();
                                 msg.clear();
                                 if (!await confirmIn(t('adm_confirm_reset', username),
                                                      t('adm_reset'))) {
                                     return;
                                 }
                                 try {
                                     await api.post(['users', username, 'password'],
                                                    {password: pass.value});
                                     pass.value = '';
                                     msg.ok(t('adm_password_reset', username));
                                 } catch (e) {
                                     msg.fail(e);
                                 }
                             }},
                    h('h2', null, t('adm_reset_password')), fPass,
                    h('p', {class: 'note'}, t('adm_reset_note')),
                    h('div', {class: 'field buttons'},
                      h('button', {type: 'submit', 'data-testid': 'do-reset'}, t('adm_reset'))));

    // Grants: organisations with include-children, or every organisation (*).
    const all = (u.grants || []).some((g) => g.org === '*');
    const star = h('input', {type: 'checkbox', id: 'g-all', checked: all,
                             'data-testid': 'grant-all'});
    const rows = orgs.orgs.map((o) => {
        const g = (u.grants || []).find((x) => x.org === o.id);
        const on = h('input', {type: 'checkbox', id: 'g-' + o.id, checked: !!g,
                               'data-testid': 'grant-' + o.id});
        const kids = h('input', {type: 'checkbox', id: 'gc-' + o.id,
                                 checked: g ? !!g.include_children : true,
                                 'data-testid': 'grant-children-' + o.id});
        return {o, on, kids};
    });
    const grants = h('form', {class: 'adm-form', 'data-testid': 'grants', onsubmit: async (ev) => {
        ev.preventDefault();
        msg.clear();
        const list = star.checked ? [{org: '*', include_children: true}]
            : rows.filter((r) => r.on.checked).map((r) => ({org: r.o.id,
                                                            include_children: r.kids.checked}));
        try {
            await api.put(['users', username, 'grants'], {grants: list});
            msg.ok(t('adm_saved'));
        } catch (e) {
            msg.fail(e);
        }
    }}, h('h2', null, t('adm_grants')),
    h('p', {class: 'note'}, t('adm_grants_note')),
    h('label', {for: 'g-all', class: 'check'}, star, ' ' + t('adm_all_orgs')),
    table('grant-list', [t('org'), t('adm_name'), t('adm_granted'), t('adm_children')],
          rows.map((r) => h('tr', null, h('td', null, r.o.id), h('td', null, r.o.name),
                            h('td', null, r.on), h('td', null, r.kids)))),
    h('div', {class: 'field buttons'},
      h('button', {type: 'submit', 'data-testid': 'save-grants'}, t('adm_save_grants'))));

    // Account actions.
    const locked = u.locked_until && Date.parse(u.locked_until) > Date.now();
    const acts = h('div', {class: 'adm-actions'},
                   h('h2', null, t('adm_account')),
                   h('p', {'data-testid': 'user-state'},
                     u.disabled ? t('adm_is_disabled') : locked
                         ? t('adm_locked_until', localTime(u.locked_until)) : t('adm_is_active'),
                     ' · ', t('adm_failures_n', u.failures ?? 0)),
                   action(t('adm_unlock'), async () => {
                       await api.post(['users', username, 'unlock'], {});
                       await reload(t('adm_unlocked', username));
                   }, msg, {class: 'secondary', 'data-testid': 'unlock'}),
                   ' ',
                   action(u.disabled ? t('adm_enable') : t('adm_disable'), async () => {
                       if (!u.disabled && !await confirmIn(t('adm_confirm_disable', username),
                                                           t('adm_disable'))) {
                           return;
                       }
                       await api.patch(['users', username], {disabled: !u.disabled});
                       await reload(u.disabled ? t('adm_enabled', username)
                           : t('adm_disabled_now', username));
                   }, msg, {class: 'secondary', 'data-testid': 'toggle-disabled'}),
                   ' ',
                   action(t('adm_delete'), async () => {
                       if (!await confirmIn(t('adm_confirm_delete_user', username),
                                            t('adm_delete'))) {
                           return;
                       }
                       await api.del(['users', username]);
                       go(routes.admin('users'));
                   }, msg, {class: 'danger', 'data-testid': 'delete-user'}));
    fill(body, hashLink(routes.admin('users'), {class: 'back'}, t('adm_back_users')),
         h('div', {class: 'adm-grid'}, edit, acts, reset, grants));
    body.setAttribute('aria-busy', 'false');
    if (notice) {
        msg.ok(notice);
    }
}
