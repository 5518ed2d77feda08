// One bill (GET /api/v1/bills/{image_no}, .../status, .../log, .../deliveries): its
// header fields, its files by section (cover, invoices, attachments, each custom
// category) with counts, the viewer, the status with its reasons, the audit log and
// the webhook deliveries. Read-only (session 1).
import * as api from '../api.js';
import {fill, h, hashLink} from '../dom.js';
import {bytes, groupFiles, localTime, stateLabel} from '../format.js';
import {routes} from '../router.js';
import {session} from '../session.js';
import {createViewer} from '../viewer/viewer.js';
import {errorBox, notAllowed} from './bills.js';

export async function renderBill(route, el) {
    const no = route.params.imageNo;
    document.title = `${no} · imgarc`;
    if (!session.can('read')) {
        fill(el, h('h1', null, no), notAllowed('read'));
        return;
    }
    fill(el, h('p', {class: 'crumbs'}, hashLink(routes.bills(), null, 'Bills'), ' / ', no),
         h('p', {'aria-busy': 'true'}, 'Loading…'));
    const seg = ['bills', no];
    const [bill, status, log, deliveries] = await Promise.allSettled([
        api.get(seg), api.get([...seg, 'status']), api.get([...seg, 'log']),
        api.get([...seg, 'deliveries']),
    ]);
    if (bill.status === 'rejected') {
        const e = bill.reason;
        fill(el, h('p', {class: 'crumbs'}, hashLink(routes.bills(), null, 'Bills'), ' / ', no),
             e.status === 404 ? h('div', {class: 'error-box', role: 'alert', 'data-testid': 'error'},
                                  h('p', null, `No bill ${no} in tenant ${session.current()?.tenant}` +
                                    ' (or it is outside your organisations).'),
                                  e.requestId ? h('p', {class: 'request-id'}, 'Request id: ',
                                                  h('code', null, e.requestId)) : null)
                              : errorBox(e));
        return;
    }
    const b = bill.value;
    const viewerHost = h('div', {class: 'viewer-host', 'data-testid': 'viewer-host'},
                         h('p', {class: 'empty'}, 'Select a file to view it.'));
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
    const sections = groupFiles(b.files).map((s) => section(s, open));
    fill(el,
         h('p', {class: 'crumbs'}, hashLink(routes.bills(), null, 'Bills'), ' / ', no),
         h('div', {class: 'bill-head'},
           h('h1', null, b.image_no),
           h('span', {class: 'state state-' + b.state, 'data-testid': 'bill-state'},
             stateLabel(b.state))),
         fields(b),
         h('div', {class: 'bill-body'},
           h('nav', {class: 'files', 'aria-label': 'Files', 'data-testid': 'files'}, sections),
           viewerHost),
         h('div', {class: 'panels'},
           panel('Status', 'status', status, statusView),
           panel('Log', 'log', log, logView),
           panel('Webhook deliveries', 'deliveries', deliveries, deliveriesView)));
    // Opens the first file, so the page shows a document at once.
    const first = el.querySelector('.file-item');
    if (first) {
        first.click();
    }
}

function fields(b) {
    const pairs = [
        ['Bill number', b.bill_no], ['Bill type', b.bill_type_name || b.bill_type],
        ['Organisation', b.org_name || b.org], ['Submitter', b.submitter_erp_name || b.submitter],
        ['Amount', b.amount ? `${b.amount} ${b.currency || ''}`.trim() : ''],
        ['ERP bill id', b.fbill_id], ['Source', b.source], ['In the pool', b.in_pool ? 'yes' : ''],
        ['Created', localTime(b.created)], ['Updated', localTime(b.updated)],
    ].filter(([, v]) => v !== undefined && v !== null && v !== '');
    return h('dl', {class: 'fields', 'data-testid': 'bill-fields'},
             pairs.map(([k, v]) => [h('dt', null, k), h('dd', null, String(v))]));
}

function section(s, open) {
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
                        `${f.pages} p · ${bytes(f.size)}` +
                        (f.rotation ? ` · ${f.rotation}°` : '') +
                        (f.match ? ` · ${f.match}` : '') +
                        (item.parts.length ? ` · merged, ${item.parts.length + 1} files` : '')),
                      item.parts.length ? h('ul', {class: 'parts'},
                                            item.parts.map((p) => h('li', null, p.name))) : null);
        return row;
    });
    return h('section', {class: 'file-section', 'data-category': s.category,
                         'data-count': String(s.count), 'data-testid': 'section-' + s.category},
             h('h2', null, s.label, ' ', h('span', {class: 'count', 'data-testid': 'count'},
                                          String(s.count))),
             items.length ? h('ul', null, items) : h('p', {class: 'empty'}, 'None'));
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
          h('dt', null, 'State'), h('dd', null, stateLabel(s.state)),
          h('dt', null, 'Ready'), h('dd', null, s.ready ? 'yes' : 'no'),
          h('dt', null, 'Mode'), h('dd', null, s.mode || 'not decided (decided at submit)'),
          h('dt', null, 'Files'), h('dd', null,
                                    `${s.files} (cover ${c.cover ?? 0}, invoices ` +
                                    `${c.invoice ?? 0}, attachments ${c.attachment ?? 0})`),
          s.invoices ? [h('dt', null, 'Invoices matched'),
                        h('dd', null, `${s.invoices.matched ?? 0} of ${s.invoices.declared ?? 0} declared`)]
                     : null),
        (s.reasons || []).length
            ? h('ul', {class: 'reasons', 'data-testid': 'reasons'},
                s.reasons.map((r) => h('li', null, r)))
            : h('p', {class: 'ok'}, 'No open reasons: the bill is ready.'),
    ];
}

function logView(l) {
    const entries = l.entries || [];
    if (!entries.length) {
        return h('p', {class: 'empty'}, 'No entries.');
    }
    return h('table', {class: 'list log', 'data-testid': 'log'},
             h('thead', null, h('tr', null, ['Time', 'Action', 'By', 'Detail', 'Request id'].map(
                 (t) => h('th', {scope: 'col'}, t)))),
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
                 'No webhook deliveries for this bill.');
    }
    return h('table', {class: 'list', 'data-testid': 'deliveries'},
             h('thead', null, h('tr', null, ['Event', 'State', 'Attempts', 'Created', 'Done',
                                             'Last attempt'].map((t) => h('th', {scope: 'col'}, t)))),
             h('tbody', null, list.map((x) => {
                 const last = (x.history || []).at(-1);
                 return h('tr', null, h('td', null, x.event), h('td', null, x.state),
                          h('td', {class: 'num'}, String(x.attempts ?? '')),
                          h('td', null, localTime(x.created)), h('td', null, localTime(x.done)),
                          h('td', null, last ? `${localTime(last.time)} ` +
                                        `${last.http_status ?? ''} ${last.error ?? 'ok'}` +
                                        (last.excerpt ? ` · ${last.excerpt}` : '') : ''));
             })));
}
