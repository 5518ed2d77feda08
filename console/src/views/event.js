// The page an ERP opens with a vendor event code (getEventCode; docs/integrators.md):
// #/event/<code>, reached from the vendor's page paths (/index.html?eventCode=...),
// which the node sends on here. The code is the credential: no sign-in, no token; the
// page reads GET /api/v1/events/<code> and shows each bill's files, each opened through
// the signed link that answer carries. The code and its links end together.
import * as api from '../api.js';
import {fill, h} from '../dom.js';
import {groupFiles, stateLabel} from '../format.js';
import {t} from '../i18n.js';
import {fileViewer, section} from './bill.js';

async function readCode(code) {
    const res = await fetch(api.apiPath(['events', code]),
                            {credentials: 'omit', cache: 'no-store', headers: {}});
    let body = null;
    try {
        body = await res.json();
    } catch {
        body = null;
    }
    return {status: res.status, body};
}

function bad(el, status, body) {
    const key = status === 410 ? 'ev_expired' : status === 403 ? 'ev_forged' : 'ev_failed';
    fill(el, h('h1', null, t('ev_title')),
         h('div', {class: 'error-box', role: 'alert', 'data-testid': 'event-error'},
           h('p', null, t(key)),
           body && body.message ? h('p', {class: 'request-id'}, body.message) : null,
           body && body.request_id ? h('p', {class: 'request-id'}, t('request_id'),
                                         h('code', null, body.request_id)) : null));
}

export async function renderEvent(route, el) {
    const code = route.params.code;
    fill(el, h('p', {class: 'loading'}, t('loading')));
    let got;
    try {
        got = await readCode(code);
    } catch {
        bad(el, 0, null);
        return;
    }
    if (got.status !== 200 || !got.body || !Array.isArray(got.body.bills)) {
        bad(el, got.status, got.body);
        return;
    }
    const {viewerHost, open} = fileViewer();
    const bills = got.body.bills.map((b) => {
        if (b.missing) {
            return h('section', {class: 'event-bill', 'data-testid': 'event-bill'},
                     h('h2', null, b.image_no), h('p', {class: 'empty'}, t('ev_missing')));
        }
        return h('section', {class: 'event-bill', 'data-testid': 'event-bill',
                             'data-image-no': b.image_no},
                 h('h2', null, b.image_no, ' ',
                   h('span', {class: 'state state-' + b.state}, stateLabel(b.state))),
                 b.bill_no ? h('p', {class: 'meta'}, t('bill_no') + ' ' + b.bill_no) : null,
                 groupFiles(b.files).map((s) => section(s, open)));
    });
    fill(el,
         h('h1', null, t('ev_title')),
         h('p', {class: 'meta', 'data-testid': 'event-expires'},
           t('ev_expires', new Date(got.body.expires).toLocaleString())),
         h('div', {class: 'bill-body'},
           h('nav', {class: 'files', 'aria-label': t('files'), 'data-testid': 'files'}, bills),
           viewerHost));
    const first = el.querySelector('.file-item');
    if (first) {
        first.click();
    }
}
