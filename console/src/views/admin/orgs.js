// Organisations (docs/API.md "Organisations and data grants"): the tree; create one
// (under a parent or at the top), rename, move (under another, or to the top).
import * as api from '../../api.js';
import {fill, h} from '../../dom.js';
import {t} from '../../i18n.js';
import {action, field, frame, messages, select} from './common.js';

// The organisations in tree order: [{org, depth}], children sorted by name.
export function treeOrder(orgs) {
    const ids = new Set(orgs.map((o) => o.id));
    const kids = new Map();
    for (const o of orgs) {
        const p = o.parent && ids.has(o.parent) ? o.parent : '';
        if (!kids.has(p)) {
            kids.set(p, []);
        }
        kids.get(p).push(o);
    }
    const out = [];
    const walk = (p, depth) => {
        for (const o of (kids.get(p) || []).sort((a, b) => a.name.localeCompare(b.name))) {
            out.push({org: o, depth});
            if (depth < 64) {
                walk(o.id, depth + 1);
            }
        }
    };
    walk('', 0);
    return out;
}

export async function renderOrgs(route, el, notice) {
    const msg = messages();
    const tree = h('div', {'aria-busy': 'true'}, t('loading'));
    frame(el, 'orgs', t('adm_orgs'), msg.el, tree);
    if (notice) {
        msg.ok(notice);
    }
    let orgs;
    try {
        orgs = (await api.get(['orgs'])).orgs;
    } catch (e) {
        msg.fail(e);
        fill(tree);
        return;
    }
    const order = treeOrder(orgs);
    const parents = [['', t('adm_top_level')], ...order.map(({org, depth}) =>
        [org.id, '\u00a0'.repeat(2 * depth) + org.name + ' (' + org.id + ')'])];
    const again = (text) => renderOrgs(route, el, text);
    fill(tree, h('ul', {class: 'org-tree', 'data-testid': 'org-tree'},
                 order.map(({org, depth}) => item(org, depth))));
    tree.setAttribute('aria-busy', 'false');

    const [fId, id] = field('no-id', t('adm_org_id'), {required: true});
    const [fName, name] = field('no-name', t('adm_name'), {required: true});
    const parent = select('no-parent', parents, '');
    el.appendChild(h('form', {class: 'adm-form', 'data-testid': 'new-org', onsubmit: async (ev) => {
        ev.preventDefault();
        msg.clear();
        try {
            await api.post(['orgs'], {id: id.value.trim(), name: name.value.trim(),
                                      parent: parent.value || undefined});
            await again(t('adm_org_created', id.value.trim()));
        } catch (e) {
            msg.fail(e);
        }
    }}, h('h2', null, t('adm_new_org')), fId, fName,
    h('div', {class: 'field'}, h('label', {for: 'no-parent'}, t('adm_parent')), parent),
    h('div', {class: 'field buttons'},
      h('button', {type: 'submit', 'data-testid': 'create-org'}, t('adm_create')))));

    function item(org, depth) {
        const li = h('li', {class: 'org depth-' + Math.min(depth, 8),
                            'data-testid': 'org-' + org.id});
        li.style.paddingLeft = (depth * 20) + 'px';
        const show = () => fill(li, h('span', {class: 'org-name'}, org.name), ' ',
                                h('code', null, org.id), ' ',
                                h('button', {type: 'button', class: 'link',
                                             'data-testid': 'edit-org-' + org.id,
                                             onclick: editing}, t('adm_rename_move')));
        const editing = () => {
            const nameIn = h('input', {value: org.name, 'aria-label': t('adm_name'),
                                       'data-testid': 'org-name-' + org.id});
            const to = select('mv-' + org.id, parents.filter(([v]) => v !== org.id),
                              org.parent || '');
            to.setAttribute('data-testid', 'org-parent-' + org.id);
            fill(li, nameIn, ' ', h('label', {for: 'mv-' + org.id}, t('adm_parent')), ' ', to, ' ',
                 action(t('adm_save'), async () => {
                     const body = {};
                     if (nameIn.value.trim() !== org.name) {
                         body.name = nameIn.value.trim();
                     }
                     if ((to.value || null) !== (org.parent || null)) {
                         body.parent = to.value || null;
                     }
                     if (Object.keys(body).length) {
                         await api.patch(['orgs', org.id], body);
                     }
                     await again(t('adm_saved'));
                 }, msg, {'data-testid': 'save-org-' + org.id}), ' ',
                 h('button', {type: 'button', class: 'secondary', onclick: show}, t('adm_cancel')));
        };
        show();
        return li;
    }
}
