// Match results and manual sign-off (002 情形三 人工核签): the declared invoices on the
// left, the invoice files with their data and each one's problem on the right;
// "Confirm match" (POST .../files/{id}/match), "Unmatch" (DELETE), correcting an
// unmatched invoice's data (PATCH .../files/{id}) and "Match again" (POST .../match).
// Once every declared invoice is matched and the bill is ready under a manual scheme,
// "Submit to ERP?" asks OK / Cancel in the page. Also the match results of a capture
// batch (GET /api/v1/batches/{batch}/match).
import * as api from '../api.js';
import {fill, h, hashLink} from '../dom.js';
import {stateLabel} from '../format.js';
import {t} from '../i18n.js';
import {routes} from '../router.js';
import {session} from '../session.js';
import {errorBox, notAllowed} from './bills.js';
import {followErp, sendToErp} from './submit.js';
import {createViewer} from '../viewer/viewer.js';

const INVOICE_FIELDS = [['number', 'inv_number'], ['code', 'inv_code'], ['date', 'inv_date'],
                        ['amount', 'inv_amount'], ['tax', 'inv_tax'], ['total', 'inv_total']];
const EDITABLE = ['submitted', 'ready', 'erp_failed'];

// "Invoice code 044001 · ..." (@skipNumber: the number is shown apart).
function invoiceText(inv, skipNumber) {
    if (!inv) {
        return '';
    }
    return INVOICE_FIELDS.filter(([k]) => inv[k] && !(skipNumber && k === 'number'))
        .map(([k, label]) => `${t(label)} ${inv[k]}`).join(' · ');
}

// The total, else amount + tax as given.
function totalText(inv) {
    if (!inv) {
        return '';
    }
    if (inv.total) {
        return inv.total;
    }
    return inv.amount ? (inv.tax ? `${inv.amount} + ${inv.tax}` : inv.amount) : '';
}

// The read-only match results of one bill (GET /bills/{no}/match), for the submit page.
export function matchResults(m) {
    return h('div', {class: 'match-results', 'data-testid': 'match-results'},
             h('p', {class: 'count'}, t('matched_of', m.invoices?.matched ?? 0,
                                        m.invoices?.declared ?? 0)),
             h('table', {class: 'list'},
               h('thead', null, h('tr', null, [t('invoice_files'), t('inv_number'),
                                               t('inv_total'), t('matched_by'), t('problem')]
                   .map((x) => h('th', {scope: 'col'}, x)))),
               h('tbody', null, (m.files || []).map((f) => h(
                   'tr', {'data-testid': 'match-file', 'data-file-id': f.file_id,
                          'data-state': f.match ? 'matched' : 'unmatched'},
                   h('td', null, t('file_no', f.position)),
                   h('td', null, f.invoice?.number || ''),
                   h('td', null, totalText(f.invoice)),
                   h('td', null, f.match || t('not_matched')),
                   h('td', {class: f.problem ? 'bad' : null, 'data-testid': 'problem'},
                     f.problem || ''))))));
}

export async function renderMatch(route, el) {
    const no = route.params.imageNo;
    document.title = `${t('signoff_title', no)} · imgarc`;
    if (!session.can('read')) {
        fill(el, h('h1', null, t('signoff_title', no)), notAllowed('read'));
        return;
    }
    const notice = h('div', {class: 'notice-box', 'aria-live': 'polite',
                             'data-testid': 'notice'});
    // One viewer for the page, kept across reloads: "View" on a file card opens it.
    const viewerHost = h('div', {class: 'viewer-host', 'data-testid': 'viewer-host'},
                         h('p', {class: 'empty'}, t('select_file')));
    let viewer = null;
    let files = new Map(); // file id -> the file as GET /bills/{no} lists it
    const view = (fileId) => {
        const f = files.get(fileId);
        if (!f) {
            return;
        }
        viewer ??= createViewer(viewerHost);
        viewer.open([f, ...(f.parts || []).map((id) => files.get(id)).filter(Boolean)]);
    };
    const body = h('div', {'aria-busy': 'true'}, t('loading'));
    fill(el, h('p', {class: 'crumbs'}, hashLink(routes.bills(), null, t('nav_bills')), ' / ',
               hashLink(routes.bill(no), null, no)),
         h('h1', null, t('signoff_title', no)), notice, body);
    await load();

    async function load() {
        let m;
        try {
            const [mr, br] = await Promise.all([api.get(['bills', no, 'match']),
                                                api.get(['bills', no])]);
            m = mr;
            files = new Map((br.files || []).map((f) => [f.file_id, f]));
        } catch (e) {
            fill(body, errorBox(e));
            return;
        }
        body.setAttribute('aria-busy', 'false');
        fill(body, page(m));
    }

    // Runs one write, shows its error or reloads.
    async function act(fn) {
        fill(notice);
        try {
            await fn();
        } catch (e) {
            fill(notice, errorBox(e));
            return;
        }
        await load();
    }

    function page(m) {
        const canEdit = m.mode === 'match' && EDITABLE.includes(m.state) &&
            session.can('match');
        const declared = m.declared || [];
        const free = declared.filter((d) => !d.file_id).map((d) => d.invoice.number);
        const all = (m.invoices?.matched ?? 0) >= (m.invoices?.declared ?? 0);
        const left = h('section', {class: 'panel declared', 'data-testid': 'declared'},
                       h('h2', null, t('declared_invoices')),
                       declared.length ? h('ul', {class: 'invoice-list'}, declared.map((d) => h(
                           'li', {'data-testid': 'declared-invoice',
                                  'data-state': d.file_id ? 'matched' : 'unmatched'},
                           h('strong', null, d.invoice.number), ' ',
                           h('span', {class: 'meta'}, invoiceText(d.invoice, true)), ' ',
                           h('span', {class: d.file_id ? 'tag ok' : 'tag bad'},
                             d.file_id ? t('matched_by') + ' ' + fileLabel(m, d.file_id)
                                 : t('not_matched')))))
                           : h('p', {class: 'empty'}, t('no_declared')));
        const right = h('section', {class: 'panel files-panel', 'data-testid': 'invoice-files'},
                        h('h2', null, t('invoice_files')),
                        (m.files || []).length
                            ? (m.files || []).map((f) => fileCard(f, canEdit, free))
                            : h('p', {class: 'empty'}, t('no_invoice_files')));
        const erp = h('div', {class: 'erp', 'data-testid': 'erp'});
        let footer = null;
        if (all && declared.length) {
            footer = h('div', {class: 'all-matched'},
                       h('p', {class: 'ok', 'data-testid': 'all-matched'}, t('all_matched')));
            // Ready under a manual scheme, or refused by the ERP (a retry, either scheme).
            if (session.can('submit') && ((m.state === 'ready' && m.submit !== 'auto') ||
                                          m.state === 'erp_failed')) {
                if (m.state === 'erp_failed') {
                    footer.appendChild(h('p', {class: 'bad', 'data-testid': 'erp-failed'},
                                         t('erp_failed', m.erp?.error || '')));
                }
                footer.appendChild(confirmErp(erp));
            } else if (m.submit === 'auto' && m.erp && m.erp.state !== 'none') {
                footer.appendChild(h('p', {class: 'note'}, t('auto_goes_on')));
                followErp(no, m.erp, erp);
            } else if (m.erp && m.erp.state !== 'none') {
                followErp(no, m.erp, erp);
            }
            footer.appendChild(erp);
        }
        return [
            h('dl', {class: 'fields'},
              h('dt', null, t('state')), h('dd', null, h('span', {
                  class: 'state state-' + m.state, 'data-testid': 'bill-state'},
              stateLabel(m.state))),
              h('dt', null, t('level')), h('dd', null, m.level || ''),
              h('dt', null, t('invoices_matched')),
              h('dd', {'data-testid': 'matched-count'},
                t('matched_of', m.invoices?.matched ?? 0, m.invoices?.declared ?? 0))),
            canEdit ? null : h('p', {class: 'note', 'data-testid': 'readonly'},
                               t('signoff_readonly')),
            h('div', {class: 'signoff'}, h('div', {class: 'signoff-left'}, left, viewerHost),
              right),
            footer,
        ];
    }

    function confirmErp(erp) {
        const box = h('div', {class: 'confirm', role: 'dialog', 'aria-label': t('submit_erp_q'),
                              'data-testid': 'confirm-erp'},
                      h('h2', null, t('submit_erp_q')),
                      h('p', null, t('submit_erp_q_text')));
        const ok = h('button', {type: 'button', 'data-testid': 'confirm-ok',
                                onclick: async () => {
                                    ok.disabled = true;
                                    cancel.disabled = true;
                                    if (await sendToErp(no, erp, () => {
                                        ok.disabled = false;
                                        cancel.disabled = false;
                                    })) {
                                        buttons.remove();
                                    }
                                }}, t('ok_button'));
        const cancel = h('button', {type: 'button', class: 'secondary',
                                    'data-testid': 'confirm-cancel',
                                    onclick: () => fill(box, h('p', {class: 'note'},
                                                               t('cancelled')))},
                         t('cancel'));
        const buttons = h('div', {class: 'actions'}, ok, cancel);
        box.appendChild(buttons);
        return box;
    }

    function fileCard(f, canEdit, free) {
        const card = h('article', {class: 'invoice-file', 'data-testid': 'invoice-file',
                                   'data-file-id': f.file_id,
                                   'data-state': f.match ? 'matched' : 'unmatched'},
                       h('h3', null, t('file_no', f.position), ' ',
                         h('span', {class: f.match ? 'tag ok' : 'tag bad'},
                           f.match ? `${t('matched_by')} ${f.match}` : t('not_matched'))),
                       h('p', {class: 'meta', 'data-testid': 'invoice-data'},
                         invoiceText(f.invoice) || t('none')),
                       f.problem ? h('p', {class: 'bad', 'data-testid': 'problem'},
                                     f.problem) : null,
                       h('button', {type: 'button', class: 'link', 'data-testid': 'view-file',
                                    onclick: () => view(f.file_id)}, t('view_file')));
        if (!canEdit) {
            return card;
        }
        const seg = ['bills', no, 'files', f.file_id];
        if (f.match) {
            card.appendChild(h('div', {class: 'actions'},
                               h('button', {type: 'button', class: 'secondary',
                                            'data-testid': 'unmatch',
                                            onclick: () => act(() => api.call(
                                                api.apiPath([...seg, 'match']),
                                                {method: 'DELETE'}))},
                                 t('unmatch'))));
            return card;
        }
        const pick = h('select', {'aria-label': t('declared_pick'), 'data-testid': 'pick'},
                       free.map((n) => h('option', {value: n,
                                                    selected: f.invoice?.number === n}, n)));
        const inputs = {};
        const form = h('form', {class: 'invoice-edit', hidden: true, 'data-testid': 'edit-form',
                                onsubmit: (ev) => {
                                    ev.preventDefault();
                                    const inv = {};
                                    for (const [k] of INVOICE_FIELDS) {
                                        const v = inputs[k].value.trim();
                                        if (v !== '') {
                                            inv[k] = v;
                                        }
                                    }
                                    act(async () => {
                                        await api.call(api.apiPath(seg),
                                                       {method: 'PATCH', body: {invoice: inv}});
                                        await api.post(['bills', no, 'match']);
                                    });
                                }},
                       INVOICE_FIELDS.map(([k, label]) => {
                           inputs[k] = h('input', {id: `inv-${f.file_id}-${k}`, name: k,
                                                   value: f.invoice?.[k] || '',
                                                   spellcheck: 'false'});
                           return h('div', {class: 'field'},
                                    h('label', {for: `inv-${f.file_id}-${k}`}, t(label)),
                                    inputs[k]);
                       }),
                       h('div', {class: 'field buttons'},
                         h('button', {type: 'submit', 'data-testid': 'save-match'},
                           t('save_data') + ' · ' + t('match_again'))));
        card.appendChild(h('div', {class: 'actions'},
                           free.length ? [pick,
                               h('button', {type: 'button', 'data-testid': 'confirm-match',
                                            onclick: () => act(() => api.post(
                                                [...seg, 'match'],
                                                {invoice_number: pick.value}))},
                                 t('confirm_match'))] : null,
                           h('button', {type: 'button', class: 'secondary',
                                        'data-testid': 'edit-data',
                                        onclick: () => {
                                            form.hidden = !form.hidden;
                                        }}, t('edit_data'))));
        card.appendChild(form);
        return card;
    }
}

function fileLabel(m, fileId) {
    const f = (m.files || []).find((x) => x.file_id === fileId);
    return f ? t('file_no', f.position) : fileId;
}

export async function renderBatch(route, el) {
    const batch = route.params.batch;
    document.title = `${t('batch_title', batch)} · imgarc`;
    if (!session.can('read')) {
        fill(el, h('h1', null, t('batch_title', batch)), notAllowed('read'));
        return;
    }
    const body = h('div', {'aria-busy': 'true'}, t('loading'));
    fill(el, h('h1', null, t('batch_title', batch)), body);
    let r;
    try {
        r = await api.get(['batches', batch, 'match']);
    } catch (e) {
        fill(body, errorBox(e));
        return;
    }
    body.setAttribute('aria-busy', 'false');
    const bills = Object.entries(r.bills || {});
    if (!bills.length) {
        fill(body, h('p', {class: 'empty', 'data-testid': 'batch-empty'}, t('batch_empty')));
        return;
    }
    fill(body, bills.map(([no, b]) => h(
        'section', {class: 'panel', 'data-testid': 'batch-bill'},
        h('h2', null, hashLink(routes.match(no), null, no), ' ',
          h('span', {class: 'state state-' + b.state}, stateLabel(b.state)), ' ',
          h('span', {class: 'count'}, t('matched_of', b.invoices?.matched ?? 0,
                                        b.invoices?.declared ?? 0))),
        h('table', {class: 'list'},
          h('thead', null, h('tr', null, [t('category'), t('inv_number'), t('inv_total'),
                                          t('matched_by'), t('problem')]
              .map((x) => h('th', {scope: 'col'}, x)))),
          h('tbody', null, (r.files || []).filter((f) => f.image_no === no).map((f) => h(
              'tr', {'data-testid': 'batch-file', 'data-file-id': f.file_id},
              h('td', null, f.category),
              h('td', null, f.invoice?.number || ''),
              h('td', null, totalText(f.invoice)),
              h('td', null, f.category === 'invoice' ? (f.match || t('not_matched')) : ''),
              h('td', {class: f.problem ? 'bad' : null}, f.problem || ''))))))));
}
