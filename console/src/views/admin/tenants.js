// The operator's tenants (docs/API.md "Tenants, licenses and usage"): pick the tenant
// every page acts for (sent as ?tenant=), and create one.
import * as api from '../../api.js';
import {fill, h} from '../../dom.js';
import {localTime} from '../../format.js';
import {t} from '../../i18n.js';
import {go, routes} from '../../router.js';
import {session} from '../../session.js';
import {field, frame, messages, table} from './common.js';

export async function renderTenants(route, el, notice) {
    const msg = messages();
    const list = h('div', {'aria-busy': 'true'}, t('loading'));
    const [fId, id] = field('nt-id', t('adm_tenant_id'), {required: true});
    const [fName, name] = field('nt-name', t('adm_name'), {required: true});
    const form = h('form', {class: 'adm-form', 'data-testid': 'new-tenant',
                            onsubmit: async (ev) => {
        ev.preventDefault();
        msg.clear();
        try {
            await api.post(['tenants'], {id: id.value.trim(), name: name.value.trim()});
            await renderTenants(route, el, t('adm_tenant_created', id.value.trim()));
        } catch (e) {
            msg.fail(e);
        }
    }}, h('h2', null, t('adm_new_tenant')), fId, fName,
    h('div', {class: 'field buttons'},
      h('button', {type: 'submit', 'data-testid': 'create-tenant'}, t('adm_create'))));
    frame(el, 'tenants', t('adm_tenants'), msg.el, list, form);
    if (notice) {
        msg.ok(notice);
    }
    let tenants;
    try {
        tenants = (await api.get(['tenants'])).tenants;
    } catch (e) {
        msg.fail(e);
        fill(list);
        return;
    }
    const current = session.current().tenant;
    fill(list, h('p', {class: 'note'}, t('adm_tenant_pick_note')),
         table('tenant-list', [t('adm_tenant_id'), t('adm_name'), t('created'), t('adm_license'),
                               ''],
               tenants.map((x) => h('tr', {'data-testid': 'tenant-row',
                                           class: x.id === current ? 'current' : null},
                   h('td', null, h('code', null, x.id)), h('td', null, x.name),
                   h('td', null, localTime(x.created)),
                   h('td', null, x.license ? localTime(x.license.expires) : t('adm_no_license')),
                   h('td', null, x.id === current
                       ? h('strong', {'data-testid': 'tenant-current'}, t('adm_current'))
                       : h('button', {type: 'button', class: 'secondary',
                                      'data-testid': 'pick-' + x.id, onclick: () => {
                                          session.setTenant(x.id);
                                          go(routes.admin('users'));
                                      }}, t('adm_pick')))))));
    list.setAttribute('aria-busy', 'false');
}
