// The bill list (GET /api/v1/bills): the filters of docs/API.md (all exact; dates are
// local days, sent as RFC 3339 local-midnight bounds), pages by cursor. The filters
// and the cursor live in the hash, so Back and a reload keep them.
import * as api from '../api.js';
import {fill, h, hashLink} from '../dom.js';
import {billQuery, FILTERS, localTime, stateLabel, STATES} from '../format.js';
import {t} from '../i18n.js';
import {go, routes} from '../router.js';
import {session} from '../session.js';

const PAGE = 50;
const SIZES = [20, 50, 100, 200];

// Bills per page: the hash's "limit" when it is 1-1000, else PAGE.
export function pageSize(q) {
    const n = /^[0-9]{1,4}$/.test(q.limit || '') ? Number(q.limit) : 0;
    return n >= 1 && n <= 1000 ? n : PAGE;
}

export function renderBills(route, el) {
    if (!session.can('read')) {
        fill(el, h('h1', null, t('bills_title')), notAllowed('read'));
        return;
    }
    const q = route.query;
    const inputs = {};
    const field = (name, label, attrs = {}) => {
        inputs[name] = h('input', {id: 'f-' + name, name, value: q[name] || '',
                                   spellcheck: 'false', ...attrs});
        return h('div', {class: 'field'}, h('label', {for: 'f-' + name}, label), inputs[name]);
    };
    inputs.state = h('select', {id: 'f-state', name: 'state'},
                     h('option', {value: ''}, t('any_state')),
                     STATES.map((s) => h('option', {value: s, selected: q.state === s},
                                         stateLabel(s))));
    const size = pageSize(q);
    inputs.limit = h('select', {id: 'f-limit', name: 'limit'},
                     [...new Set([...SIZES, size])].sort((a, b) => a - b).map(
                         (n) => h('option', {value: String(n), selected: n === size}, String(n))));
    const form = h('form', {class: 'filters', onsubmit: apply, 'data-testid': 'filters'},
                   h('div', {class: 'field'}, h('label', {for: 'f-state'}, t('state')),
                     inputs.state),
                   field('image_no', t('image_no')),
                   field('bill_no', t('bill_no')),
                   field('bill_type', t('bill_type')),
                   field('org', t('org')),
                   field('from', t('created_from'), {type: 'date'}),
                   field('to', t('created_to'), {type: 'date'}),
                   h('div', {class: 'field'}, h('label', {for: 'f-limit'}, t('per_page')),
                     inputs.limit),
                   h('div', {class: 'field buttons'},
                     h('button', {type: 'submit', 'data-testid': 'apply'}, t('search')),
                     h('button', {type: 'button', class: 'secondary',
                                  onclick: () => go(routes.bills())}, t('clear'))));
    const result = h('div', {class: 'result', 'aria-busy': 'true'}, t('loading'));
    fill(el, h('h1', null, t('bills_title')), form, result);

    function apply(ev) {
        ev.preventDefault();
        const next = {};
        for (const k of FILTERS) {
            next[k] = inputs[k].value.trim();
        }
        if (Number(inputs.limit.value) !== PAGE) {
            next.limit = inputs.limit.value;
        }
        go(routes.bills(next));
    }

    load(q, result);
}

async function load(q, result) {
    const filters = {};
    for (const k of FILTERS) {
        filters[k] = q[k] || '';
    }
    const size = pageSize(q);
    if (size !== PAGE) {
        filters.limit = String(size);
    }
    let data;
    try {
        data = await api.get(['bills'], billQuery(filters, q.cursor, size));
    } catch (e) {
        fill(result, errorBox(e));
        result.setAttribute('aria-busy', 'false');
        return;
    }
    const pager = pagerOf(filters, q, data.next_cursor);
    const bills = data.bills || [];
    if (bills.length === 0) {
        const s = session.current();
        const ungranted = s && !s.admin && Array.isArray(s.grants) && s.grants.length === 0;
        fill(result, h('p', {class: 'empty', 'data-testid': 'no-bills'},
                       data.next_cursor
                           ? t('empty_page_more') : t('no_bills')),
             ungranted ? h('p', {class: 'note', 'data-testid': 'no-grants'}, t('no_grants')) : null,
             pager);
        result.setAttribute('aria-busy', 'false');
        return;
    }
    const rows = bills.map((b) => h('tr', {class: 'bill-row', 'data-testid': 'bill-row',
                                           'data-state': b.state,
                                           onclick: (ev) => {
                                               if (ev.target.tagName !== 'A') {
                                                   go(routes.bill(b.image_no));
                                               }
                                           }},
                                    h('td', null, hashLink(routes.bill(b.image_no),
                                                           {class: 'image-no'}, b.image_no)),
                                    h('td', null, b.bill_no || ''),
                                    h('td', null, b.bill_type || ''),
                                    h('td', null, b.org_name || b.org || ''),
                                    h('td', null, h('span', {class: 'state state-' + b.state},
                                                    stateLabel(b.state))),
                                    h('td', {class: 'num'}, String(b.files ?? '')),
                                    h('td', null, localTime(b.created)),
                                    h('td', null, localTime(b.updated))));
    fill(result,
         h('table', {class: 'list', 'data-testid': 'bill-list'},
           h('thead', null, h('tr', null,
                              ['image_no', 'bill_no', 'bill_type', 'org', 'state', 'files',
                               'created', 'updated'].map((k) => h('th', {scope: 'col'}, t(k))))),
           h('tbody', null, rows)),
         h('p', {class: 'count'}, t('bills_count', bills.length, !!data.next_cursor)),
         pager);
    result.setAttribute('aria-busy', 'false');
}

// First page, Previous and Next page. The hash keeps the cursors of the pages before
// this one ("back", "-" for the first), so Previous needs no request of its own.
function pagerOf(filters, q, next) {
    const prev = (q.back || '').split(',').filter(Boolean);
    const button = (testid, label, to, primary) =>
        h('button', {type: 'button', class: primary ? null : 'secondary', 'data-testid': testid,
                     onclick: () => go(routes.bills({...filters, ...to}))}, label);
    const before = prev.at(-1);
    return h('div', {class: 'pager'},
             q.cursor ? button('first-page', t('first_page'), {}) : null,
             q.cursor ? button('previous-page', t('previous'),
                               {cursor: before === '-' ? '' : before,
                                back: prev.slice(0, -1).join(',')}) : null,
             next ? button('next-page', t('next_page'),
                           {cursor: next, back: [...prev, q.cursor || '-'].join(',')}, true)
                  : null);
}

// What a page shows when GET /auth/me says the user lacks @permission (the node refuses
// the calls anyway: 403 / 10403 naming it).
export function notAllowed(permission) {
    return h('div', {class: 'error-box', role: 'alert', 'data-testid': 'not-allowed'},
             h('p', null, t('not_allowed', permission)));
}

export function errorBox(e) {
    return h('div', {class: 'error-box', role: 'alert', 'data-testid': 'error'},
             h('p', null, e.status === 403 ? t('forbidden', e.message) : e.message),
             e.requestId ? h('p', {class: 'request-id'}, t('request_id'),
                             h('code', null, e.requestId)) : null);
}
