// Work lists over GET /api/v1/bills (docs/API.md, the G6 item fields): the sign-off
// list (match-mode bills with matched / declared counts, 002 单据签收列表), the bills
// waiting for rescanning with their reasons (state=returned), the bills waiting for
// upload (state=pending_upload); pages by cursor. And the reviewer's "Send back for
// rescanning" on the bill page (POST .../return).
import * as api from '../api.js';
import {fill, h, hashLink} from '../dom.js';
import {localTime, stateLabel} from '../format.js';
import {t} from '../i18n.js';
import {go, routes} from '../router.js';
import {session} from '../session.js';
import {errorBox, notAllowed} from './bills.js';

const PAGE = 50;

const LISTS = {
    signoff: {title: 'signoff_list_title', note: 'signoff_list_note', query: {mode: 'match'},
              cols: ['image_no', 'bill_no', 'submitter', 'amount', 'state', 'matched_col',
                     'updated'],
              link: (b) => routes.match(b.image_no)},
    rescan: {title: 'rescan_list_title', query: {state: 'returned'},
             cols: ['image_no', 'bill_no', 'submitter', 'returned_reason', 'updated'],
             link: (b) => routes.bill(b.image_no)},
    upload: {title: 'upload_list_title', query: {state: 'pending_upload'},
             cols: ['image_no', 'bill_no', 'bill_type', 'org', 'submitter', 'created'],
             link: (b) => routes.bill(b.image_no)},
};

function cell(col, b, list) {
    switch (col) {
    case 'image_no':
        return hashLink(list.link(b), {class: 'image-no'}, b.image_no);
    case 'amount':
        return b.amount ? `${b.amount} ${b.currency || ''}`.trim() : '';
    case 'state':
        return h('span', {class: 'state state-' + b.state}, stateLabel(b.state));
    case 'matched_col':
        return h('span', {'data-testid': 'matched'},
                 t('matched_count', b.invoices?.matched ?? 0, b.invoices?.declared ?? 0));
    case 'returned_reason':
        return h('span', {'data-testid': 'returned-reason'}, b.returned_reason || '');
    case 'org':
        return b.org_name || b.org || '';
    case 'created':
    case 'updated':
        return localTime(b[col]);
    default:
        return b[col] == null ? '' : String(b[col]);
    }
}

export async function renderWorklist(route, el) {
    const name = route.params.list;
    const list = LISTS[name];
    document.title = `${t(list.title)} · imgarc`;
    if (!session.can('read')) {
        fill(el, h('h1', null, t(list.title)), notAllowed('read'));
        return;
    }
    const result = h('div', {class: 'result', 'aria-busy': 'true'}, t('loading'));
    fill(el, h('h1', null, t(list.title)),
         list.note ? h('p', {class: 'note'}, t(list.note)) : null, result);
    let data;
    try {
        data = await api.get(['bills'], {...list.query, limit: String(PAGE),
                                         cursor: route.query.cursor || ''});
    } catch (e) {
        fill(result, errorBox(e));
        return;
    }
    result.setAttribute('aria-busy', 'false');
    const bills = data.bills || [];
    const next = data.next_cursor
        ? h('div', {class: 'pager'},
            h('button', {type: 'button', 'data-testid': 'next-page',
                         onclick: () => go(routes.worklist(name, {cursor: data.next_cursor}))},
              t('next_page'))) : null;
    if (!bills.length) {
        fill(result, h('p', {class: 'empty', 'data-testid': 'no-bills'},
                       data.next_cursor ? t('empty_page_more') : t('no_list_bills')), next);
        return;
    }
    fill(result,
         h('table', {class: 'list', 'data-testid': 'worklist-' + name},
           h('thead', null, h('tr', null, list.cols.map((c) => h('th', {scope: 'col'}, t(c))))),
           h('tbody', null, bills.map((b) => h('tr', {'data-testid': 'worklist-row',
                                                     'data-state': b.state},
                                              list.cols.map((c) => h('td', null,
                                                                     cell(c, b, list))))))),
         next);
}

const RETURNABLE = ['submitted', 'ready', 'erp_failed'];

// "Send back for rescanning" with a reason, for a reviewer on the bill page; null when
// the user cannot or the bill's state does not allow it. @done runs after it worked.
export function returnBox(b, done) {
    if (!session.can('review') || !RETURNABLE.includes(b.state)) {
        return null;
    }
    const reason = h('input', {id: 'return-reason', name: 'reason', maxlength: '1024',
                               spellcheck: 'false', 'data-testid': 'return-reason'});
    const msg = h('div', {'aria-live': 'polite'});
    const form = h('form', {class: 'return-form', 'data-testid': 'return-form',
                            onsubmit: async (ev) => {
                                ev.preventDefault();
                                const why = reason.value.trim();
                                if (why === '') {
                                    fill(msg, h('p', {class: 'error'}, t('reason_needed')));
                                    return;
                                }
                                try {
                                    await api.post(['bills', b.image_no, 'return'],
                                                   {reason: why});
                                } catch (e) {
                                    fill(msg, errorBox(e));
                                    return;
                                }
                                fill(msg, h('p', {class: 'ok'}, t('send_back_done')));
                                done?.();
                            }},
                   h('div', {class: 'field'}, h('label', {for: 'return-reason'},
                                                t('send_back_reason')), reason),
                   h('div', {class: 'field buttons'},
                     h('button', {type: 'submit', 'data-testid': 'send-back'}, t('send_back'))));
    return h('section', {class: 'panel', 'data-testid': 'panel-return'},
             h('h2', null, t('send_back')), form, msg);
}
