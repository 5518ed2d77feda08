// What capture is set up with (docs/API.md "Bill types, schemes and matching", "Custom
// categories"): bill types (code, name, mode) and the schemes that pick the match level
// and submit rule per bill type and organisation; custom attachment categories.
import * as api from '../../api.js';
import {fill, h} from '../../dom.js';
import {localTime} from '../../format.js';
import {t} from '../../i18n.js';
import {field, frame, messages, select, table} from './common.js';

export async function renderTypes(route, el, notice) {
    const msg = messages();
    const again = (text) => renderTypes(route, el, text);
    const types = h('div', {'aria-busy': 'true'}, t('loading'));
    const schemes = h('div');
    frame(el, 'types', t('adm_types'), msg.el, types, schemes);
    if (notice) {
        msg.ok(notice);
    }
    let bt, sc, orgs;
    try {
        [bt, sc, orgs] = await Promise.all([api.get(['bill-types']), api.get(['schemes']),
                                            api.get(['orgs'])]);
    } catch (e) {
        msg.fail(e);
        fill(types);
        return;
    }
    const [fCode, code] = field('bt-code', t('adm_code'), {required: true});
    const [fName, name] = field('bt-name', t('adm_name'), {required: true});
    const mode = select('bt-mode', ['basic', 'sync', 'match'].map((m) => [m, t('adm_mode_' + m)]),
                        'basic');
    fill(types, table('type-list', [t('adm_code'), t('adm_name'), t('adm_mode'), t('created')],
                      bt.bill_types.map((x) => h('tr', {'data-testid': 'type-row'},
                          h('td', null, h('code', null, x.code)), h('td', null, x.name),
                          h('td', null, t('adm_mode_' + x.mode)),
                          h('td', null, localTime(x.created))))),
         h('form', {class: 'adm-form', 'data-testid': 'new-type', onsubmit: async (ev) => {
             ev.preventDefault();
             msg.clear();
             try {
                 await api.post(['bill-types'], {code: code.value.trim(), name: name.value.trim(),
                                                 mode: mode.value});
                 await again(t('adm_type_saved', code.value.trim()));
             } catch (e) {
                 msg.fail(e);
             }
         }}, h('h2', null, t('adm_new_type')), h('p', {class: 'note'}, t('adm_type_note')),
         fCode, fName, h('div', {class: 'field'}, h('label', {for: 'bt-mode'}, t('adm_mode')),
                         mode),
         h('div', {class: 'field buttons'},
           h('button', {type: 'submit', 'data-testid': 'save-type'}, t('adm_save')))));
    types.setAttribute('aria-busy', 'false');

    const sType = select('sc-type', bt.bill_types.map((x) => [x.code, x.code + ' · ' + x.name]),
                         bt.bill_types[0]?.code);
    const orgOptions = orgs.orgs.map((o) => [o.id, o.name + ' (' + o.id + ')']);
    const sOrg = select('sc-org', [['', t('adm_every_org')], ...orgOptions], '');
    const sMatch = select('sc-match', [['normal', t('adm_match_normal')],
                                       ['standard', t('adm_match_standard')]], 'normal');
    const sSubmit = select('sc-submit', [['manual', t('adm_submit_manual')],
                                         ['auto', t('adm_submit_auto')]], 'manual');
    fill(schemes, h('h2', null, t('adm_schemes')),
         table('scheme-list', [t('bill_type'), t('org'), t('adm_match'), t('adm_submit')],
               sc.schemes.map((x) => h('tr', {'data-testid': 'scheme-row'},
                   h('td', null, x.bill_type), h('td', null, x.org || t('adm_every_org')),
                   h('td', null, t('adm_match_' + x.match)),
                   h('td', null, t('adm_submit_' + x.submit))))),
         h('form', {class: 'adm-form', 'data-testid': 'new-scheme', onsubmit: async (ev) => {
             ev.preventDefault();
             msg.clear();
             try {
                 await api.post(['schemes'], {bill_type: sType.value, org: sOrg.value || undefined,
                                              match: sMatch.value, submit: sSubmit.value});
                 await again(t('adm_scheme_saved', sType.value));
             } catch (e) {
                 msg.fail(e);
             }
         }}, h('h3', null, t('adm_new_scheme')),
         h('div', {class: 'field'}, h('label', {for: 'sc-type'}, t('bill_type')), sType),
         h('div', {class: 'field'}, h('label', {for: 'sc-org'}, t('org')), sOrg),
         h('div', {class: 'field'}, h('label', {for: 'sc-match'}, t('adm_match')), sMatch),
         h('p', {class: 'note'}, t('adm_match_note')),
         h('div', {class: 'field'}, h('label', {for: 'sc-submit'}, t('adm_submit')), sSubmit),
         h('div', {class: 'field buttons'},
           h('button', {type: 'submit', 'data-testid': 'save-scheme'}, t('adm_save')))));
}

export async function renderCategories(route, el, notice) {
    const msg = messages();
    const body = h('div', {'aria-busy': 'true'}, t('loading'));
    frame(el, 'categories', t('adm_categories'), msg.el, body);
    if (notice) {
        msg.ok(notice);
    }
    let c;
    try {
        c = await api.get(['categories']);
    } catch (e) {
        msg.fail(e);
        fill(body);
        return;
    }
    const [fCode, code] = field('cat-code', t('adm_code'), {required: true});
    const [fName, name] = field('cat-name', t('adm_name'), {required: true});
    fill(body, h('p', null, t('adm_built_in_categories', (c.built_in || []).join(', '))),
         (c.categories || []).length === 0 ? h('p', {class: 'empty'}, t('adm_no_categories'))
             : table('category-list', [t('adm_code'), t('adm_name')],
                     c.categories.map((x) => h('tr', {'data-testid': 'category-row'},
                         h('td', null, h('code', null, x.code)), h('td', null, x.name)))),
         h('form', {class: 'adm-form', 'data-testid': 'new-category', onsubmit: async (ev) => {
             ev.preventDefault();
             msg.clear();
             try {
                 await api.post(['categories'], {code: code.value.trim(), name: name.value.trim()});
                 await renderCategories(route, el, t('adm_category_saved', code.value.trim()));
             } catch (e) {
                 msg.fail(e);
             }
         }}, h('h2', null, t('adm_new_category')), h('p', {class: 'note'}, t('adm_category_note')),
         fCode, fName, h('div', {class: 'field buttons'},
                         h('button', {type: 'submit', 'data-testid': 'save-category'},
                           t('adm_save')))));
    body.setAttribute('aria-busy', 'false');
}
