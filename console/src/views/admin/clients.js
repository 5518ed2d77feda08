// Business-system clients (docs/API.md "Clients"): the list (never a secret); create
// one, whose secret is shown once with a copy button; rotate the secret (shown once
// again; the old one and its tokens stop at once); delete.
import * as api from '../../api.js';
import {fill, h} from '../../dom.js';
import {localTime} from '../../format.js';
import {t} from '../../i18n.js';
import {action, confirmIn, field, frame, messages, secretOnce, table} from './common.js';

export async function renderClients(route, el, shown) {
    const msg = messages();
    const secret = h('div', {'data-testid': 'secret-area'});
    const list = h('div', {'aria-busy': 'true'}, t('loading'));
    const [fName, name] = field('nc-name', t('adm_client_name'), {required: true});
    const again = (s) => renderClients(route, el, s);
    const form = h('form', {class: 'adm-form', 'data-testid': 'new-client',
                            onsubmit: async (ev) => {
        ev.preventDefault();
        msg.clear();
        try {
            const c = await api.post(['clients'], {name: name.value.trim()});
            await again({id: c.client_id, secret: c.client_secret, what: 'created'});
        } catch (e) {
            msg.fail(e);
        }
    }}, h('h2', null, t('adm_new_client')), fName,
    h('div', {class: 'field buttons'},
      h('button', {type: 'submit', 'data-testid': 'create-client'}, t('adm_create'))));
    frame(el, 'clients', t('adm_clients'), msg.el, secret, list, form);
    if (shown) {
        fill(secret, h('p', {class: 'ok'}, shown.what === 'created'
            ? t('adm_client_created', shown.id) : t('adm_client_rotated', shown.id)),
             secretOnce('client-secret', t('adm_client_secret'), shown.secret));
    }
    let clients;
    try {
        clients = (await api.get(['clients'])).clients;
    } catch (e) {
        msg.fail(e);
        fill(list);
        return;
    }
    fill(list, clients.length === 0 ? h('p', {class: 'empty'}, t('adm_no_clients'))
        : table('client-list', [t('adm_client_id'), t('adm_client_name'), t('created'), ''],
                clients.map((c) => h('tr', {'data-testid': 'client-row'},
                    h('td', null, h('code', null, c.client_id)), h('td', null, c.name || ''),
                    h('td', null, localTime(c.created)),
                    h('td', {class: 'buttons'},
                      action(t('adm_rotate'), async () => {
                          if (!await confirmIn(t('adm_confirm_rotate', c.name || c.client_id),
                                               t('adm_rotate'))) {
                              return;
                          }
                          const r = await api.post(['clients', c.client_id, 'secret'], {});
                          await again({id: c.client_id, secret: r.client_secret, what: 'rotated'});
                      }, msg, {class: 'secondary', 'data-testid': 'rotate-' + c.client_id}), ' ',
                      action(t('adm_delete'), async () => {
                          if (!await confirmIn(t('adm_confirm_delete_client',
                                                 c.name || c.client_id), t('adm_delete'))) {
                              return;
                          }
                          await api.del(['clients', c.client_id]);
                          await again(null);
                      }, msg, {class: 'danger', 'data-testid': 'delete-' + c.client_id}))))));
    list.setAttribute('aria-busy', 'false');
}
