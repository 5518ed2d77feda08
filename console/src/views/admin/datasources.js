// Data sources (docs/API.md "Data sources", docs/migration.md): the other imaging
// systems a tenant migrates from. The list (never a secret), add one (a form per kind),
// enable or disable, delete, and the connection test with its answer or its error.
// Secrets are typed into password inputs and never shown back.
import * as api from '../../api.js';
import {fill, h} from '../../dom.js';
import {localTime} from '../../format.js';
import {t} from '../../i18n.js';
import {action, confirmIn, field, frame, messages, select, table} from './common.js';

// Per kind: [API field, label key, input attributes].
const KINDS = {
    imgarc: [['url', 'mg_url', {required: true, type: 'url'}],
             ['tenant', 'mg_src_tenant', {required: true}],
             ['client_id', 'mg_client_id', {required: true}],
             ['client_secret', 'mg_client_secret', {required: true, type: 'password',
                                                    autocomplete: 'new-password'}]],
    vendor: [['url', 'mg_url', {required: true, type: 'url'}],
             ['app_id', 'mg_app_id', {required: true}],
             ['app_secret', 'mg_app_secret', {required: true, type: 'password',
                                              autocomplete: 'new-password'}],
             ['tenant_id', 'mg_tenant_id', {required: true}],
             ['account_id', 'mg_account_id', {}],
             ['user', 'mg_user', {required: true}],
             ['list_path', 'mg_list_path', {placeholder: '/kapi/app/bds/queryBillList'}]],
};

export async function renderDatasources(route, el, note) {
    const msg = messages();
    const list = h('div', {'aria-busy': 'true'}, t('loading'));
    const result = h('div', {class: 'ds-test', 'aria-live': 'polite',
                             'data-testid': 'ds-test-result'});
    const again = (n) => renderDatasources(route, el, n);
    const kind = select('nd-kind', Object.keys(KINDS).map((k) => [k, t('mg_kind_' + k)]),
                        'imgarc');
    kind.setAttribute('data-testid', 'nd-kind');
    kind.setAttribute('class', 'mg-select');
    const [fName, name] = field('nd-name', t('mg_ds_name'), {required: true, maxlength: 64,
                                                            'data-testid': 'nd-name'});
    const fields = h('div', {class: 'ds-fields'});
    let inputs = {};
    const showKind = () => {
        inputs = {};
        fill(fields, KINDS[kind.value].map(([k, label, attrs]) => {
            const [w, i] = field('nd-' + k, t(label), {...attrs, 'data-testid': 'nd-' + k});
            inputs[k] = i;
            return w;
        }));
    };
    kind.addEventListener('change', showKind);
    showKind();
    const form = h('form', {class: 'adm-form', 'data-testid': 'new-datasource',
                            onsubmit: async (ev) => {
                                ev.preventDefault();
                                msg.clear();
                                const body = {name: name.value.trim(), kind: kind.value};
                                for (const [k, i] of Object.entries(inputs)) {
                                    const v = i.type === 'password' ? i.value : i.value.trim();
                                    if (v !== '') {
                                        body[k] = v;
                                    }
                                }
                                try {
                                    await api.post(['datasources'], body);
                                    await again(t('mg_ds_added', body.name));
                                } catch (e) {
                                    msg.fail(e);
                                }
                            }},
                   h('h2', null, t('mg_new_ds')), fName,
                   h('div', {class: 'field'}, h('label', {for: 'nd-kind'}, t('mg_kind')), kind),
                   fields,
                   h('div', {class: 'field buttons'},
                     h('button', {type: 'submit', 'data-testid': 'create-datasource'},
                       t('adm_create'))));
    frame(el, 'datasources', t('adm_tab_datasources'), h('p', {class: 'hint'}, t('mg_ds_intro')),
          msg.el, result, list, form);
    if (note) {
        msg.ok(note);
    }
    let sources;
    try {
        sources = (await api.get(['datasources'])).datasources;
    } catch (e) {
        msg.fail(e);
        fill(list);
        return;
    }
    fill(list, sources.length === 0 ? h('p', {class: 'empty'}, t('mg_no_ds'))
        : table('datasource-list', [t('mg_ds_name'), t('mg_kind'), t('mg_url'), t('mg_enabled'),
                                    t('created'), ''],
                sources.map((d) => h('tr', {'data-testid': 'datasource-row',
                                            'data-state': d.enabled ? 'enabled' : 'disabled'},
                    h('td', null, h('code', null, d.name)), h('td', null, t('mg_kind_' + d.kind)),
                    h('td', {class: 'url'}, d.url),
                    h('td', null, d.enabled ? t('mg_yes') : t('mg_no')),
                    h('td', null, localTime(d.created)),
                    h('td', {class: 'buttons'},
                      action(t('mg_test'), async () => {
                          fill(result, h('p', {'aria-busy': 'true'}, t('mg_testing', d.name)));
                          try {
                              const r = await api.post(['datasources', d.name, 'test'], {},
                                                       {idempotent: false, quiet: true});
                              fill(result, h('p', {class: 'ok', 'data-testid': 'ds-test-ok'},
                                             t('mg_test_ok', d.name, r.elapsed_ms, r.detail)));
                          } catch (e) {
                              fill(result, h('div', {class: 'error-box', 'data-testid': 'ds-test-fail'},
                                             h('p', null, t('mg_test_failed', d.name)),
                                             h('p', {class: 'ds-error'}, e.message)));
                          }
                      }, msg, {class: 'secondary', 'data-testid': 'test-' + d.name}), ' ',
                      action(d.enabled ? t('mg_disable') : t('mg_enable'), async () => {
                          await api.patch(['datasources', d.name], {enabled: !d.enabled});
                          await again(d.enabled ? t('mg_ds_disabled', d.name)
                              : t('mg_ds_enabled', d.name));
                      }, msg, {class: 'secondary', 'data-testid': 'toggle-' + d.name}), ' ',
                      action(t('adm_delete'), async () => {
                          if (!await confirmIn(t('mg_confirm_delete_ds', d.name),
                                               t('adm_delete'))) {
                              return;
                          }
                          await api.del(['datasources', d.name]);
                          await again(t('mg_ds_deleted', d.name));
                      }, msg, {class: 'danger', 'data-testid': 'delete-' + d.name}))))));
    list.setAttribute('aria-busy', 'false');
}
