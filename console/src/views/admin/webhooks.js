// Webhooks and deliveries (docs/API.md "Webhooks and deliveries"): the list, create
// (the secret shown once), delete; the tenant's deliveries with their attempts, and
// retry of a failed or cancelled one. Receiver URLs and excerpts are text, never links.
import * as api from '../../api.js';
import {fill, h} from '../../dom.js';
import {localTime} from '../../format.js';
import {t} from '../../i18n.js';
import {action, checks, confirmIn, field, frame, messages, secretOnce, select,
        table} from './common.js';

const EVENTS = ['pending_upload', 'captured', 'submitted', 'ready', 'erp_submitted',
                'erp_failed', 'returned', 'license_expiring', 'license_expired', 'erp_submit',
                'bill_deleted', '*'];

export async function renderWebhooks(route, el, shown) {
    const msg = messages();
    const secret = h('div');
    const list = h('div', {'aria-busy': 'true'}, t('loading'));
    const deliveries = h('div', {class: 'deliveries'});
    const again = (s) => renderWebhooks(route, el, s);
    const [fUrl, url] = field('nw-url', t('adm_url'), {required: true, type: 'url',
                                                      placeholder: 'https://erp.example/hooks'});
    const [evBox, getEvents] = checks('nw-ev-', EVENTS, ['ready']);
    const form = h('form', {class: 'adm-form', 'data-testid': 'new-webhook',
                            onsubmit: async (ev) => {
                                ev.preventDefault();
                                msg.clear();
                                try {
                                    const w = await api.post(['webhooks'], {
                                        url: url.value.trim(), events: getEvents()});
                                    await again({id: w.id, secret: w.secret});
                                } catch (e) {
                                    msg.fail(e);
                                }
                            }},
                   h('h2', null, t('adm_new_webhook')), fUrl,
                   h('div', {class: 'field'}, h('span', {class: 'label'}, t('adm_events')), evBox),
                   h('div', {class: 'field buttons'},
                     h('button', {type: 'submit', 'data-testid': 'create-webhook'},
                       t('adm_create'))));
    frame(el, 'webhooks', t('adm_webhooks'), msg.el, secret, list, form, deliveries);
    if (shown) {
        fill(secret, h('p', {class: 'ok'}, t('adm_webhook_created', shown.id)),
             secretOnce('webhook-secret', t('adm_webhook_secret'), shown.secret));
    }
    try {
        const hooks = (await api.get(['webhooks'])).webhooks;
        fill(list, hooks.length === 0 ? h('p', {class: 'empty'}, t('adm_no_webhooks'))
            : table('webhook-list', ['id', t('adm_url'), t('adm_events'), t('created'), ''],
                    hooks.map((w) => h('tr', {'data-testid': 'webhook-row'},
                        h('td', null, h('code', null, w.id)), h('td', {class: 'url'}, w.url),
                        h('td', null, (w.events || []).join(', ')),
                        h('td', null, localTime(w.created)),
                        h('td', null, action(t('adm_delete'), async () => {
                            if (!await confirmIn(t('adm_confirm_delete_webhook', w.url),
                                                 t('adm_delete'))) {
                                return;
                            }
                            await api.del(['webhooks', w.id]);
                            await again(null);
                        }, msg, {class: 'danger', 'data-testid': 'delete-webhook-' + w.id}))))));
    } catch (e) {
        msg.fail(e);
        fill(list);
    }
    list.setAttribute('aria-busy', 'false');
    await showDeliveries(deliveries, msg, route.query.state || '');
}

async function showDeliveries(box, msg, state) {
    const pick = select('dl-state', [['', t('any_state')], ...['pending', 'delivered', 'failed',
                                                               'cancelled'].map((s) => [s, s])],
                        state);
    const out = h('div', {'aria-busy': 'true'}, t('loading'));
    pick.addEventListener('change', () => showDeliveries(box, msg, pick.value));
    fill(box, h('h2', null, t('adm_deliveries')),
         h('div', {class: 'field'}, h('label', {for: 'dl-state'}, t('state')), pick), out);
    let d;
    try {
        d = await api.get(['deliveries'], {state, limit: '100'});
    } catch (e) {
        msg.fail(e);
        fill(out);
        return;
    }
    fill(out, d.deliveries.length === 0 ? h('p', {class: 'empty'}, t('adm_no_deliveries'))
        : table('delivery-list', ['id', t('adm_event'), t('image_no'), t('state'),
                                  t('adm_attempts'), t('adm_last_attempt'), ''],
                d.deliveries.map((x) => {
                    const last = (x.history || []).at(-1);
                    return h('tr', {'data-testid': 'delivery-row', 'data-state': x.state},
                             h('td', null, h('code', null, x.id)), h('td', null, x.event),
                             h('td', null, x.image_no || ''), h('td', null, x.state),
                             h('td', {class: 'num'}, String(x.attempts ?? 0)),
                             h('td', null, last ? localTime(last.time) + ' · ' +
                               (last.error || 'HTTP ' + last.http_status) +
                               (last.excerpt ? ' · ' + last.excerpt : '') : ''),
                             h('td', null, x.state === 'failed' || x.state === 'cancelled'
                                 ? action(t('adm_retry'), async () => {
                                     await api.post(['deliveries', x.id, 'retry'], {});
                                     await showDeliveries(box, msg, state);
                                 }, msg, {class: 'secondary', 'data-testid': 'retry-' + x.id})
                                 : null));
                })));
    out.setAttribute('aria-busy', 'false');
}
