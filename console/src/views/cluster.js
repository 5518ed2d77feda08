// The operator's cluster view (docs/console.md "Operating the cluster"): the leader,
// every node (id, HTTP address, zone, role, health, storage, applied index, blobs,
// free space, clock offset), the under-replicated count; drain and undrain with a
// confirmation. Refreshed every 5 s while this page is open (and the tab visible);
// nothing runs once it is left. Node ids are strings (64-bit: never parsed as numbers).
import * as api from '../api.js';
import {fill, h} from '../dom.js';
import {bytes} from '../format.js';
import {t} from '../i18n.js';
import {session} from '../session.js';
import {notAllowed} from './bills.js';
import {confirmIn, errorBox} from './admin/common.js';

const EVERY_MS = 5000;

const num = (v) => (v === null || v === undefined ? '–' : String(v));
const size = (v) => (v === null || v === undefined ? '–' : bytes(v));

export function offsetText(ms) {
    if (ms === null || ms === undefined) {
        return '–';
    }
    return (ms > 0 ? '+' : '') + ms + ' ms';
}

export function renderCluster(route, el) {
    const s = session.current();
    document.title = t('cl_title') + ' · imgarc';
    if (!s || s.kind !== 'operator') {
        fill(el, h('h1', null, t('cl_title')), notAllowed('operator'));
        return;
    }
    const msg = h('div', {'aria-live': 'polite', 'data-testid': 'cl-msg'});
    const head = h('div', {class: 'cl-head', 'data-testid': 'cl-head'});
    const body = h('div', {'aria-busy': 'true'}, t('loading'));
    const stamp = h('span', {class: 'muted', 'data-testid': 'cl-updated'});
    fill(el, h('h1', null, t('cl_title')), h('p', {class: 'note'}, t('cl_note'), ' ', stamp),
         msg, head, body);
    let timer = null;
    let busy = false;

    async function refresh() {
        timer = null;
        if (!el.isConnected) {
            return; // the page was left: stop
        }
        if (document.visibilityState === 'visible' && !busy) {
            busy = true;
            try {
                show(await api.get(['cluster']));
                fill(stamp, t('cl_updated', new Date().toLocaleTimeString()));
            } catch (e) {
                fill(msg, errorBox(e));
            } finally {
                busy = false;
            }
        }
        if (el.isConnected) {
            timer = setTimeout(refresh, EVERY_MS);
        }
    }

    function show(v) {
        const leader = v.leader === null ? null : String(v.leader);
        fill(head,
             h('span', {class: 'cl-fact', 'data-testid': 'cl-leader'}, t('cl_leader'), ' ',
               h('code', null, leader ?? t('cl_no_leader'))),
             h('span', {class: 'cl-fact' + (v.under_replicated > 0 ? ' warn' : ''),
                        'data-testid': 'cl-under'},
               t('cl_under', num(v.under_replicated))));
        const heads = ['cl_id', 'cl_http', 'cl_zone', 'cl_role', 'cl_health', 'cl_storage',
                       'cl_applied', 'cl_blobs', 'cl_blob_bytes', 'cl_free', 'cl_clock', ''];
        fill(body, h('table', {class: 'list', 'data-testid': 'cl-nodes'},
                     h('thead', null, h('tr', null, heads.map((k) => h('th', {scope: 'col'},
                                                                     k ? t(k) : '')))),
                     h('tbody', null, (v.nodes || []).map((n) => row(n, leader)))));
        body.setAttribute('aria-busy', 'false');
    }

    function row(n, leader) {
        const id = String(n.id);
        const draining = n.storage === 'draining';
        return h('tr', {'data-testid': 'cl-node', 'data-state': n.health},
                 h('td', null, h('code', {'data-testid': 'cl-node-id'}, id),
                   id === leader ? h('span', {class: 'badge ok'}, ' ' + t('cl_is_leader')) : null),
                 h('td', null, n.http), h('td', null, n.zone), h('td', null, n.role),
                 h('td', null, h('span', {class: 'health health-' + n.health}, n.health),
                   n.disk_full ? h('span', {class: 'badge warn'}, ' ' + t('cl_disk_full')) : null),
                 h('td', {'data-testid': 'cl-storage'}, n.storage),
                 h('td', {class: 'num'}, num(n.applied_index)),
                 h('td', {class: 'num'}, num(n.blob_count)),
                 h('td', {class: 'num'}, size(n.blob_bytes)),
                 h('td', {class: 'num'}, size(n.free_bytes)),
                 h('td', {class: 'num'}, offsetText(n.clock_offset_ms)),
                 h('td', null, n.storage === 'out' ? null
                     : h('button', {type: 'button', class: draining ? 'secondary' : 'danger',
                                    'data-testid': (draining ? 'undrain-' : 'drain-') + id,
                                    onclick: () => drain(id, !draining)},
                         draining ? t('cl_undrain') : t('cl_drain'))));
    }

    async function drain(id, on) {
        if (!await confirmIn(on ? t('cl_confirm_drain', id) : t('cl_confirm_undrain', id),
                             on ? t('cl_drain') : t('cl_undrain'))) {
            return;
        }
        try {
            const r = on ? await api.post(['cluster', 'nodes', id, 'drain'], {})
                : await api.del(['cluster', 'nodes', id, 'drain']);
            fill(msg, h('p', {class: 'ok', 'data-testid': 'cl-ok'},
                        t('cl_storage_now', String(r.id), r.storage)));
        } catch (e) {
            fill(msg, errorBox(e));
        }
        if (timer !== null) {
            clearTimeout(timer);
        }
        refresh();
    }

    refresh();
}
