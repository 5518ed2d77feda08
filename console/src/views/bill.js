// One bill (GET /api/v1/bills/{image_no}, .../status, .../log, .../deliveries): its
// header fields, its files by section (cover, invoices, attachments, each custom
// category) with counts, the viewer, the status with its reasons, the audit log and
// the webhook deliveries, the legal holds (placed and lifted with the hold permission)
// and the return for rescanning.
import * as api from '../api.js';
import {fill, h, hashLink} from '../dom.js';
import {bytes, groupFiles, localTime, stateLabel} from '../format.js';
import {t} from '../i18n.js';
import {routes} from '../router.js';
import {session} from '../session.js';
import {createViewer} from '../viewer/viewer.js';
import {errorBox, notAllowed} from './bills.js';
import {returnBox} from './lists.js';

export async function renderBill(route, el) {
    const no = route.params.imageNo;
    document.title = `${no} · imgarc`;
    if (!session.can('read')) {
        fill(el, h('h1', null, no), notAllowed('read'));
        return;
    }
    fill(el, h('p', {class: 'crumbs'}, hashLink(routes.bills(), null, t('nav_bills')), ' / ', no),
         h('p', {'aria-busy': 'true'}, t('loading')));
    const seg = ['bills', no];
    const [bill, status, log, deliveries] = await Promise.allSettled([
        api.get(seg), api.get([...seg, 'status']), api.get([...seg, 'log']),
        api.get([...seg, 'deliveries']),
    ]);
    if (bill.status === 'rejected') {
        const e = bill.reason;
        fill(el, h('p', {class: 'crumbs'}, hashLink(routes.bills(), null, t('nav_bills')), ' / ',
                   no),
             e.status === 404 ? h('div', {class: 'error-box', role: 'alert',
                                          'data-testid': 'error'},
                                  h('p', null, t('no_bill', no, session.current()?.tenant)),
                                  e.requestId ? h('p', {class: 'request-id'}, t('request_id'),
                                                  h('code', null, e.requestId)) : null)
                              : errorBox(e));
        return;
    }
    const b = bill.value;
    const {viewerHost, open} = fileViewer();
    const sections = groupFiles(b.files).map((s) => section(s, open));
    fill(el,
         h('p', {class: 'crumbs'}, hashLink(routes.bills(), null, t('nav_bills')), ' / ', no),
         h('div', {class: 'bill-head'},
           h('h1', null, b.image_no),
           h('span', {class: 'state state-' + b.state, 'data-testid': 'bill-state'},
             stateLabel(b.state)),
           session.can('capture')
               ? hashLink(routes.capture(b.image_no),
                          {class: 'button', 'data-testid': 'capture-edit'}, t('cap_edit'))
               : null),
         fields(b),
         h('div', {class: 'bill-body'},
           h('nav', {class: 'files', 'aria-label': t('files'), 'data-testid': 'files'}, sections),
           viewerHost),
         h('div', {class: 'panels'},
           panel(t('status'), 'status', status, statusView),
           panel(t('log'), 'log', log, logView),
           panel(t('deliveries'), 'deliveries', deliveries, deliveriesView),
           holdsBox(b, () => renderBill(route, el)),
           returnBox(b, () => renderBill(route, el))));
    // Opens the first file, so the page shows a document at once.
    const first = el.querySelector('.file-item');
    if (first) {
        first.click();
    }
}

// Legal holds (docs/API.md "Legal holds"): those in force, shown to every reader; the
// hold permission places one with a reason and lifts one by its id.
function holdsBox(b, done) {
    const holds = b.holds || [];
    const may = session.can('hold');
    if (holds.length === 0 && !may) {
        return null;
    }
    const msg = h('div', {'aria-live': 'polite', 'data-testid': 'hold-msg'});
    const act = async (fn, ok) => {
        try {
            const r = await fn();
            fill(msg, h('p', {class: 'ok'}, ok(r)));
        } catch (e) {
            fill(msg, errorBox(e));
            return;
        }
        done?.();
    };
    const rows = holds.map((x) => h('li', {'data-testid': 'hold', 'data-hold-id': x.hold_id},
                                     h('strong', null, x.reason), ' ',
                                     h('span', {class: 'muted'},
                                       t('hold_placed_by', x.placed_by, localTime(x.placed)),
                                       ' · ', h('code', null, x.hold_id)),
                                     may ? [' ', h('button', {
                                         type: 'button', class: 'secondary',
                                         'data-testid': 'hold-lift-' + x.hold_id,
                                         onclick: () => act(() => api.del(['bills', b.image_no,
                                                                           'holds', x.hold_id]),
                                                            () => t('hold_lifted', x.hold_id)),
                                     }, t('hold_lift'))] : null));
    const reason = h('input', {id: 'hold-reason', name: 'reason', maxlength: '1024',
                               spellcheck: 'false', 'data-testid': 'hold-reason'});
    const form = may ? h('form', {class: 'return-form', 'data-testid': 'hold-form',
                                  onsubmit: (ev) => {
                                      ev.preventDefault();
                                      const why = reason.value.trim();
                                      if (why === '') {
                                          fill(msg, h('p', {class: 'error'}, t('reason_needed')));
                                          return;
                                      }
                                      act(() => api.post(['bills', b.image_no, 'holds'],
                                                         {reason: why}),
                                          (r) => t('hold_placed', r.hold_id));
                                  }},
                         h('div', {class: 'field'}, h('label', {for: 'hold-reason'},
                                                      t('hold_reason')), reason),
                         h('div', {class: 'field buttons'},
                           h('button', {type: 'submit', 'data-testid': 'hold-place'},
                             t('hold_place'))))
        : null;
    return h('section', {class: 'panel', 'data-testid': 'panel-holds'},
             h('h2', null, t('holds')),
             h('p', {class: holds.length ? 'warn' : 'muted', 'data-testid': 'holds-state'},
               holds.length ? t('holds_in_force', holds.length) : t('holds_none')),
             holds.length ? h('ul', {class: 'holds', 'data-testid': 'holds'}, rows) : null,
             form, msg);
}

function fields(b) {
    const pairs = [
        [t('bill_no'), b.bill_no], [t('bill_type'), b.bill_type_name || b.bill_type],
        [t('org'), b.org_name || b.org], [t('submitter'), b.submitter_erp_name || b.submitter],
        [t('amount'), b.amount ? `${b.amount} ${b.currency || ''}`.trim() : ''],
        [t('erp_bill_id'), b.fbill_id], [t('source'), b.source],
        [t('in_pool'), b.in_pool ? t('yes') : ''],
        [t('created'), localTime(b.created)], [t('updated'), localTime(b.updated)],
    ].filter(([, v]) => v !== undefined && v !== null && v !== '');
    return h('dl', {class: 'fields', 'data-testid': 'bill-fields'},
             pairs.map(([k, v]) => [h('dt', null, k), h('dd', null, String(v))]));
}

// The viewer beside a file list (also views/event.js): its host element, made on the
// first open, and open(item, row), which shows the item's document (a file and its
// merged parts) and marks its row as the current one.
export function fileViewer() {
    const viewerHost = h('div', {class: 'viewer-host', 'data-testid': 'viewer-host'},
                         h('p', {class: 'empty'}, t('select_file')));
    let viewer = null;
    let selected = null;
    const open = (item, row) => {
        if (viewer === null) {
            viewer = createViewer(viewerHost);
        }
        if (selected) {
            selected.removeAttribute('aria-current');
        }
        selected = row;
        row.setAttribute('aria-current', 'true');
        viewer.open([item.file, ...item.parts]);
    };
    return {viewerHost, open};
}

// One section of the file list; @open(item, row) shows a document (also views/event.js).
export function section(s, open) {
    const items = s.items.map((item) => {
        const f = item.file;
        const row = h('li', {class: 'file-item', tabindex: '0', role: 'button',
                             'data-file-id': f.file_id, 'data-format': f.format,
                             'data-testid': 'file-item',
                             onclick: () => open(item, row),
                             onkeydown: (ev) => {
                                 if (ev.key === 'Enter' || ev.key === ' ') {
                                     ev.preventDefault();
                                     open(item, row);
                                 }
                             }},
                      h('span', {class: 'fmt fmt-' + f.format}, f.format.toUpperCase()),
                      h('span', {class: 'name'}, f.name),
                      h('span', {class: 'meta'},
                        `${t('pages_short', f.pages)} · ${bytes(f.size)}` +
                        (f.rotation ? ` · ${f.rotation}°` : '') +
                        (f.match ? ` · ${f.match}` : '') +
                        (item.parts.length
                            ? ` · ${t('merged_files', item.parts.length + 1)}` : '')),
                      item.parts.length ? h('ul', {class: 'parts'},
                                            item.parts.map((p) => h('li', null, p.name))) : null);
        return row;
    });
    return h('section', {class: 'file-section', 'data-category': s.category,
                         'data-count': String(s.count), 'data-testid': 'section-' + s.category},
             h('h2', null, s.label, ' ', h('span', {class: 'count', 'data-testid': 'count'},
                                          String(s.count))),
             items.length ? h('ul', null, items) : h('p', {class: 'empty'}, t('none')));
}

function panel(title, id, settled, view) {
    return h('section', {class: 'panel', 'data-testid': 'panel-' + id},
             h('h2', null, title),
             settled.status === 'fulfilled' ? view(settled.value) : errorBox(settled.reason));
}

function statusView(s) {
    const c = s.counts || {};
    return [
        h('dl', {class: 'fields'},
          h('dt', null, t('state')), h('dd', null, stateLabel(s.state)),
          h('dt', null, t('ready_q')), h('dd', null, s.ready ? t('yes') : t('no')),
          h('dt', null, t('mode')), h('dd', null, s.mode || t('mode_undecided')),
          h('dt', null, t('files')), h('dd', null, t('file_counts', s.files, c)),
          s.invoices ? [h('dt', null, t('invoices_matched')),
                        h('dd', null, t('matched_of', s.invoices.matched ?? 0,
                                        s.invoices.declared ?? 0))]
                     : null),
        (s.reasons || []).length
            ? h('ul', {class: 'reasons', 'data-testid': 'reasons'},
                s.reasons.map((r) => h('li', null, r)))
            : h('p', {class: 'ok'}, t('no_reasons')),
    ];
}

function logView(l) {
    const entries = l.entries || [];
    if (!entries.length) {
        return h('p', {class: 'empty'}, t('no_entries'));
    }
    return h('table', {class: 'list log', 'data-testid': 'log'},
             h('thead', null, h('tr', null,
                                ['time', 'action', 'by', 'detail', 'request_id_col'].map(
                                    (k) => h('th', {scope: 'col'}, t(k))))),
             h('tbody', null, entries.map((e) => h('tr', {'data-testid': 'log-entry'},
                 h('td', null, localTime(e.time)),
                 h('td', null, e.action),
                 h('td', null, e.operator || ''),
                 h('td', null, h('code', {class: 'detail'},
                                 e.detail === null || e.detail === undefined ? ''
                                     : JSON.stringify(e.detail))),
                 h('td', null, h('code', null, e.request_id || ''))))));
}

function deliveriesView(d) {
    const list = d.deliveries || [];
    if (!list.length) {
        return h('p', {class: 'empty', 'data-testid': 'no-deliveries'},
                 t('no_deliveries'));
    }
    return h('table', {class: 'list', 'data-testid': 'deliveries'},
             h('thead', null, h('tr', null,
                                ['event', 'state', 'attempts', 'created', 'done',
                                 'last_attempt'].map((k) => h('th', {scope: 'col'}, t(k))))),
             h('tbody', null, list.map((x) => {
                 const last = (x.history || []).at(-1);
                 return h('tr', null, h('td', null, x.event), h('td', null, x.state),
                          h('td', {class: 'num'}, String(x.attempts ?? '')),
                          h('td', null, localTime(x.created)), h('td', null, localTime(x.done)),
                          h('td', null, last ? `${localTime(last.time)} ` +
                                        `${last.http_status ?? ''} ${last.error ?? t('ok')}` +
                                        (last.excerpt ? ` · ${last.excerpt}` : '') : ''));
             })));
}
