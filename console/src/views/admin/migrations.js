// Migration batches (docs/API.md "Migration batches", docs/migration.md): the list with
// state, phase and counts; create a batch; a batch's page with its progress, state and
// error, the actions its state allows, its bills (state filter, paging, "do not
// migrate") and its log (paging, CSV fetched with the token, never a token in a URL).
// The batch's page polls the batch every 2 s while it runs.
import * as api from '../../api.js';
import {fill, h, hashLink} from '../../dom.js';
import {bytes, localMidnight, localTime} from '../../format.js';
import {t} from '../../i18n.js';
import {routes} from '../../router.js';
import {session} from '../../session.js';
import {action, field, frame, messages, select, table} from './common.js';

const BILL_STATES = ['pending', 'checked', 'migrated', 'present', 'failed', 'skipped'];
// The actions each state allows (docs/API.md).
const ACTIONS = {
    pending: ['start', 'cancel'],
    running: ['pause', 'retry', 'cancel'],
    paused: ['resume', 'retry', 'cancel'],
    done: ['retry'],
    failed: ['retry'],
};
const POLL_MS = 2000;
const PAGE = 50;

// Rows per page of the bills and the log: the address's ?per= (1-1000), else PAGE.
function perPage(query) {
    const n = Number(query.per);
    return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : PAGE;
}

export function renderMigrations(route, el) {
    return route.params.arg ? renderBatch(route, el) : renderList(route, el);
}

const csv = (s) => s.split(',').map((x) => x.trim()).filter((x) => x !== '');

function stateText(b) {
    return t('mg_st_' + b.state) + (b.state === 'running' && b.phase
        ? ' · ' + t('mg_ph_' + b.phase) : '');
}

function done(c) {
    return (c.migrated || 0) + (c.failed || 0) + (c.skipped || 0);
}

function progress(c) {
    const total = c.bills || 0;
    return h('div', {class: 'mg-progress'},
             h('progress', {max: String(Math.max(total, 1)), value: String(done(c)),
                            'data-testid': 'mg-progress'}),
             ' ', h('span', {class: 'mg-progress-text'}, t('mg_progress', done(c), total)));
}

async function renderList(route, el, note) {
    const msg = messages();
    const list = h('div', {'aria-busy': 'true'}, t('loading'));
    const [fNo, no] = field('nm-no', t('mg_batch_no'), {required: true, maxlength: 64,
                                                        'data-testid': 'nm-no'});
    const ds = h('select', {id: 'nm-ds', name: 'nm-ds', required: true, class: 'mg-select',
                            'data-testid': 'nm-ds'});
    const [fOrgs, orgs] = field('nm-orgs', t('mg_orgs'), {placeholder: t('mg_all'),
                                                          'data-testid': 'nm-orgs'});
    const [fTypes, types] = field('nm-types', t('mg_bill_types'), {placeholder: t('mg_all'),
                                                                  'data-testid': 'nm-types'});
    const [fFrom, from] = field('nm-from', t('created_from'), {type: 'date',
                                                               'data-testid': 'nm-from'});
    const [fTo, to] = field('nm-to', t('created_to'), {type: 'date', 'data-testid': 'nm-to'});
    const form = h('form', {class: 'adm-form', 'data-testid': 'new-migration',
                            onsubmit: async (ev) => {
                                ev.preventDefault();
                                msg.clear();
                                const scope = {};
                                if (csv(orgs.value).length) {
                                    scope.orgs = csv(orgs.value);
                                }
                                if (csv(types.value).length) {
                                    scope.bill_types = csv(types.value);
                                }
                                // Local dates, as on the bill list: from the first day's
                                // midnight to the midnight after the last day.
                                if (from.value) {
                                    scope.from = localMidnight(from.value);
                                }
                                if (to.value) {
                                    scope.to = localMidnight(to.value, 1);
                                }
                                const batchNo = no.value.trim();
                                try {
                                    await api.post(['migrations'], {batch_no: batchNo,
                                                                    datasource: ds.value, scope});
                                    location.hash = routes.admin('migrations', batchNo);
                                } catch (e) {
                                    msg.fail(e);
                                }
                            }},
                   h('h2', null, t('mg_new_batch')), fNo,
                   h('div', {class: 'field'}, h('label', {for: 'nm-ds'}, t('mg_datasource')), ds),
                   fOrgs, fTypes, fFrom, fTo,
                   h('p', {class: 'hint'}, t('mg_scope_hint')),
                   h('div', {class: 'field buttons'},
                     h('button', {type: 'submit', 'data-testid': 'create-migration'},
                       t('adm_create'))));
    frame(el, 'migrations', t('adm_tab_migrations'), msg.el, list, form);
    if (note) {
        msg.ok(note);
    }
    let batches;
    try {
        const [m, d] = await Promise.all([api.get(['migrations']), api.get(['datasources'])]);
        batches = m.migrations;
        const enabled = d.datasources.filter((x) => x.enabled);
        fill(ds, enabled.length === 0 ? h('option', {value: ''}, t('mg_no_enabled_ds'))
            : enabled.map((x) => h('option', {value: x.name}, x.name + ' (' + x.kind + ')')));
    } catch (e) {
        msg.fail(e);
        fill(list);
        return;
    }
    fill(list, batches.length === 0 ? h('p', {class: 'empty'}, t('mg_no_batches'))
        : table('migration-list', [t('mg_batch_no'), t('mg_datasource'), t('state'),
                                   t('mg_bills'), t('mg_migrated'), t('mg_failed'),
                                   t('mg_skipped'), t('mg_pending'), t('created')],
                batches.map((b) => h('tr', {'data-testid': 'migration-row', 'data-state': b.state},
                    h('td', null, hashLink(routes.admin('migrations', b.batch_no),
                                           {'data-testid': 'open-' + b.batch_no}, b.batch_no)),
                    h('td', null, b.datasource),
                    h('td', {class: 'mg-state mg-' + b.state}, stateText(b)),
                    ['bills', 'migrated', 'failed', 'skipped', 'pending'].map((k) =>
                        h('td', {class: 'num'}, String(b.counts[k] ?? 0))),
                    h('td', null, localTime(b.created))))));
    list.setAttribute('aria-busy', 'false');
}

async function renderBatch(route, el) {
    const batchNo = route.params.arg;
    const hash = location.hash;
    const msg = messages();
    const head = h('div', {class: 'mg-head', 'aria-busy': 'true'}, t('loading'));
    const bills = h('section', {class: 'mg-bills', 'data-testid': 'mg-bills'});
    const log = h('section', {class: 'mg-log', 'data-testid': 'mg-log'});
    frame(el, 'migrations', t('mg_batch_title', batchNo),
          h('p', null, hashLink(routes.admin('migrations'), {'data-testid': 'back-batches'},
                                t('mg_back'))),
          msg.el, head, bills, log);
    const here = () => location.hash === hash && el.contains(head);
    let last = null;
    let timer = null;
    const per = perPage(route.query);
    const reload = async () => {
        await Promise.all([showBills(bills, batchNo, msg, {state: '', after: '', back: [], per}),
                           showLog(log, batchNo, msg, {after: '', back: [], per})]);
    };
    const refresh = async () => {
        clearTimeout(timer);
        let b;
        try {
            b = await api.get(['migrations', batchNo], undefined, {quiet: last !== null});
        } catch (e) {
            msg.fail(e);
            if (last === null) {
                fill(head);
                return;
            }
            b = null;
        }
        if (!here()) {
            return;
        }
        if (b) {
            const was = last;
            last = b;
            showHead(head, b, msg, async (nb) => {
                last = nb;
                await refresh();
                await reload();
            });
            // The bills and the log again when the batch stops (or starts) running.
            if (was && was.state !== b.state) {
                await reload();
            }
        }
        if (last && last.state === 'running') {
            timer = setTimeout(() => (here() ? refresh() : null), POLL_MS);
        }
    };
    await refresh();
    if (last) {
        await reload();
    }
}

function showHead(box, b, msg, changed) {
    const c = b.counts || {};
    const scope = b.scope || {};
    fill(box,
         h('dl', {class: 'mg-facts'},
           h('dt', null, t('state')),
           h('dd', {class: 'mg-state mg-' + b.state, 'data-testid': 'mg-state',
                    'data-state': b.state}, stateText(b)),
           b.error ? [h('dt', null, t('mg_error')),
               h('dd', {class: 'bad', 'data-testid': 'mg-error'}, b.error)] : null,
           h('dt', null, t('mg_datasource')), h('dd', null, b.datasource),
           h('dt', null, t('mg_scope')),
           h('dd', null, [t('mg_orgs') + ': ' + ((scope.orgs || []).join(', ') || t('mg_all')),
                          t('mg_bill_types') + ': ' +
                              ((scope.bill_types || []).join(', ') || t('mg_all')),
                          t('created_from') + ': ' + (scope.from ? localTime(scope.from) : '—'),
                          t('created_to') + ': ' + (scope.to ? localTime(scope.to) : '—')]
               .join(' · ')),
           h('dt', null, t('created')),
           h('dd', null, localTime(b.created) + (b.created_by ? ' · ' + b.created_by : '')),
           b.started ? [h('dt', null, t('mg_started')), h('dd', null, localTime(b.started))]
               : null,
           b.finished ? [h('dt', null, t('mg_finished')), h('dd', null, localTime(b.finished))]
               : null),
         progress(c),
         h('p', {class: 'mg-counts', 'data-testid': 'mg-counts'},
           t('mg_counts', c.bills || 0, c.migrated || 0, c.failed || 0, c.skipped || 0,
             c.pending || 0, c.checked || 0)),
         h('p', {class: 'mg-bytes'}, t('mg_bytes', c.files_moved || 0, c.files || 0,
                                       bytes(c.bytes_moved || 0), bytes(c.bytes || 0))),
         h('div', {class: 'buttons mg-actions'},
           (ACTIONS[b.state] || []).map((a) => [action(t('mg_act_' + a), async () => {
               changed(await api.post(['migrations', b.batch_no, a], undefined));
           }, msg, {class: a === 'cancel' ? 'danger' : a === 'start' || a === 'resume'
               ? '' : 'secondary', 'data-testid': 'mg-' + a}), ' '])));
    box.setAttribute('aria-busy', 'false');
}

function completeText(c) {
    if (!c) {
        return '';
    }
    return Object.entries(c).map(([k, v]) => t('mg_cat_' + k) + (v ? ' ✓' : ' ✗')).join('  ');
}

async function showBills(box, batchNo, msg, page) {
    const pick = select('mb-state', [['', t('any_state')],
                                     ...BILL_STATES.map((s) => [s, t('mg_bst_' + s)])],
                        page.state);
    pick.setAttribute('data-testid', 'mb-state');
    pick.setAttribute('class', 'mg-select');
    pick.addEventListener('change', () =>
        showBills(box, batchNo, msg, {state: pick.value, after: '', back: [], per: page.per}));
    const out = h('div', {'aria-busy': 'true'}, t('loading'));
    fill(box, h('h2', null, t('mg_bills')),
         h('div', {class: 'field'}, h('label', {for: 'mb-state'}, t('state')), pick), out);
    let r;
    try {
        r = await api.get(['migrations', batchNo, 'bills'],
                          {state: page.state, after: page.after, limit: String(page.per)});
    } catch (e) {
        msg.fail(e);
        fill(out);
        return;
    }
    const boxes = [];
    const mark = (skip) => action(skip ? t('mg_skip') : t('mg_unskip'), async () => {
        const nos = boxes.filter((b) => b.checked).map((b) => b.value);
        if (nos.length === 0) {
            msg.fail(new api.ApiError(400, {message: t('mg_select_first')}));
            return;
        }
        const a = await api.post(['migrations', batchNo, 'bills', 'skip'],
                                 {image_nos: nos, skip});
        await showBills(box, batchNo, msg, page);
        msg.ok(t(skip ? 'mg_skipped_n' : 'mg_unskipped_n', a.changed));
    }, msg, {class: 'secondary', 'data-testid': skip ? 'mg-skip' : 'mg-unskip'});
    const rows = r.bills.map((b) => {
        const cb = h('input', {type: 'checkbox', value: b.image_no,
                               'aria-label': t('mg_select', b.image_no),
                               'data-testid': 'pick-' + b.image_no});
        boxes.push(cb);
        return h('tr', {'data-testid': 'mg-bill-row', 'data-state': b.state,
                        'data-image-no': b.image_no},
                 h('td', null, cb),
                 h('td', null, h('code', null, b.image_no)), h('td', null, b.bill_no || ''),
                 h('td', null, b.bill_type || ''), h('td', null, b.org || ''),
                 h('td', {class: 'mg-bst mg-b-' + b.state}, t('mg_bst_' + b.state)),
                 h('td', {class: 'num'}, String((b.files || []).length)),
                 h('td', {class: 'num'}, bytes(b.bytes || 0)),
                 h('td', {class: 'mg-complete', 'data-testid': 'complete'},
                   completeText(b.complete)),
                 h('td', {class: 'mg-reason'}, b.reason || ''));
    });
    const all = h('input', {type: 'checkbox', 'aria-label': t('mg_select_all'),
                            'data-testid': 'pick-all',
                            onchange: () => boxes.forEach((b) => (b.checked = all.checked))});
    fill(out,
         rows.length === 0 ? h('p', {class: 'empty'}, r.next_after ? t('empty_page_more')
             : t('mg_no_bills'))
             : h('table', {class: 'list', 'data-testid': 'mg-bill-list'},
                 h('thead', null, h('tr', null, h('th', {scope: 'col'}, all),
                   [t('image_no'), t('bill_no'), t('bill_type'), t('org'), t('state'), t('files'),
                    t('mg_size'), t('mg_complete'), t('mg_reason')]
                       .map((x) => h('th', {scope: 'col'}, x)))),
                 h('tbody', null, rows)),
         rows.length === 0 ? null : h('div', {class: 'buttons'}, mark(true), ' ', mark(false)),
         pager(page, r.next_after, 'mb', (p) => showBills(box, batchNo, msg, p)));
    out.setAttribute('aria-busy', 'false');
}

// Previous / next buttons over next_after cursors; @page.back holds the cursors of the
// pages before.
function pager(page, next, prefix, go) {
    return h('div', {class: 'pager'},
             h('button', {type: 'button', class: 'secondary', disabled: page.back.length === 0,
                          'data-testid': prefix + '-prev',
                          onclick: () => go({...page, after: page.back.at(-1),
                                             back: page.back.slice(0, -1)})}, t('previous')),
             ' ',
             h('button', {type: 'button', class: 'secondary', disabled: !next,
                          'data-testid': prefix + '-next',
                          onclick: () => go({...page, after: next,
                                             back: [...page.back, page.after]})},
               t('next_page')));
}

async function showLog(box, batchNo, msg, page) {
    const out = h('div', {'aria-busy': 'true'}, t('loading'));
    const link = h('span');
    const save = h('button', {type: 'button', class: 'secondary', 'data-testid': 'mg-csv',
                              onclick: async () => {
                                  save.disabled = true;
                                  msg.clear();
                                  try {
                                      await downloadCsv(batchNo, link);
                                  } catch (e) {
                                      msg.fail(e);
                                  } finally {
                                      save.disabled = false;
                                  }
                              }}, t('mg_download_csv'));
    fill(box, h('h2', null, t('mg_log')), h('div', {class: 'buttons'}, save, ' ', link), out);
    let r;
    try {
        r = await api.get(['migrations', batchNo, 'log'],
                          {after: page.after, limit: String(page.per)});
    } catch (e) {
        msg.fail(e);
        fill(out);
        return;
    }
    fill(out,
         r.entries.length === 0 ? h('p', {class: 'empty'}, t('mg_no_log'))
             : table('mg-log-list', ['#', t('mg_time'), t('mg_operator'), t('mg_action'),
                                     t('image_no'), t('mg_detail')],
                     r.entries.map((e) => h('tr', {'data-testid': 'mg-log-row', 'data-state': e.action},
                         h('td', {class: 'num'}, String(e.seq)), h('td', null, localTime(e.time)),
                         h('td', null, e.operator || ''), h('td', null, e.action),
                         h('td', null, e.image_no || ''),
                         h('td', {class: 'mg-detail'},
                           e.detail && Object.keys(e.detail).length
                               ? JSON.stringify(e.detail) : '')))),
         pager(page, r.next_after, 'ml', (p) => showLog(box, batchNo, msg, p)));
    out.setAttribute('aria-busy', 'false');
}

// The whole log as CSV, fetched with the session's token (never in a URL) and saved
// from a blob: URL made here.
async function downloadCsv(batchNo, link) {
    const s = session.current();
    const res = await fetch(api.apiPath(['migrations', batchNo, 'log'],
                                        {format: 'csv', tenant: s.kind === 'operator'
                                            ? s.tenant : ''}),
                            {headers: {Authorization: 'Bearer ' + session.token()},
                             cache: 'no-store', credentials: 'omit'});
    if (!res.ok) {
        let b = null;
        try {
            b = await res.json();
        } catch {
            b = null;
        }
        throw new api.ApiError(res.status, b, res.headers.get('X-Request-Id'), null);
    }
    const blob = new Blob([await res.text()], {type: 'text/csv'});
    const a = h('a', {class: 'button', 'data-testid': 'mg-csv-link'}, t('mg_save_csv'));
    a.setAttribute('href', URL.createObjectURL(blob));
    a.setAttribute('download', 'migration-' + batchNo + '-log.csv');
    fill(link, a);
    a.click();
}
