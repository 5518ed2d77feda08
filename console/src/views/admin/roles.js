// Roles (docs/API.md "Users and roles"): the built-in and custom ones with their
// permissions; create, edit the permissions of, and delete a custom role (409
// role_in_use names the users who still have it).
import * as api from '../../api.js';
import {fill, h} from '../../dom.js';
import {t} from '../../i18n.js';
import {action, checks, confirmIn, field, frame, messages, PERMISSIONS, table} from './common.js';

const BUILT_IN = ['scanner', 'reviewer', 'tenant_admin'];

export async function renderRoles(route, el, notice) {
    const msg = messages();
    const list = h('div', {'aria-busy': 'true'}, t('loading'));
    const [fName, name] = field('nr-name', t('adm_role_name'), {required: true});
    const [permBox, getPerms] = checks('nr-perm-', PERMISSIONS, ['read']);
    const form = h('form', {class: 'adm-form', 'data-testid': 'new-role', onsubmit: async (ev) => {
        ev.preventDefault();
        msg.clear();
        try {
            await api.post(['roles'], {name: name.value.trim(), permissions: getPerms()});
            await renderRoles(route, el, t('adm_role_created', name.value.trim()));
        } catch (e) {
            msg.fail(e);
        }
    }}, h('h2', null, t('adm_new_role')), fName,
    h('div', {class: 'field'}, h('span', {class: 'label'}, t('adm_permissions')), permBox),
    h('div', {class: 'field buttons'},
      h('button', {type: 'submit', 'data-testid': 'create-role'}, t('adm_create'))));
    frame(el, 'roles', t('adm_roles'), msg.el, list, form);
    if (notice) {
        msg.ok(notice);
    }
    let roles;
    try {
        roles = (await api.get(['roles'])).roles;
    } catch (e) {
        msg.fail(e);
        fill(list);
        return;
    }
    fill(list, table('role-list', [t('adm_role_name'), t('adm_permissions'), ''],
                     roles.map((r) => row(r))));
    list.setAttribute('aria-busy', 'false');

    function row(r) {
        const builtIn = BUILT_IN.includes(r.name);
        const cell = h('td', null, (r.permissions || []).join(', '));
        const buttons = h('td', {class: 'buttons'});
        if (!builtIn) {
            fill(buttons,
                 action(t('adm_edit'), async () => edit(r, cell, buttons), msg,
                        {class: 'secondary', 'data-testid': 'edit-role-' + r.name}), ' ',
                 action(t('adm_delete'), async () => {
                     if (!await confirmIn(t('adm_confirm_delete_role', r.name), t('adm_delete'))) {
                         return;
                     }
                     await api.del(['roles', r.name]);
                     await renderRoles(route, el, t('adm_role_deleted', r.name));
                 }, msg, {class: 'danger', 'data-testid': 'delete-role-' + r.name}));
        } else {
            fill(buttons, h('span', {class: 'muted'}, t('adm_built_in')));
        }
        return h('tr', {'data-testid': 'role-row'}, h('td', null, r.name), cell, buttons);
    }

    function edit(r, cell, buttons) {
        const [box, get] = checks('er-' + r.name + '-', PERMISSIONS, r.permissions || []);
        fill(cell, box);
        fill(buttons, action(t('adm_save'), async () => {
            await api.patch(['roles', r.name], {permissions: get()});
            await renderRoles(route, el, t('adm_saved'));
        }, msg, {'data-testid': 'save-role-' + r.name}));
    }
}
