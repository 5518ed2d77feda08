// Submitting a bill (002 提交影像): the status reasons first, the Submit button, then
// one of the three situations the answer's "submit" and "invoices" tell apart
// (docs/API.md, status "submit" and "erp"):
//   1. auto scheme, every invoice matched: the ERP's result, polled from status every
//      2 s for up to 30 s; Continue capturing / View match results / Sign-off list;
//   2. manual scheme (or none), every invoice matched: View match results, then
//      Submit to ERP;
//   3. matching failed: each invoice file's problem, then Recapture or Manual sign-off.
// The capture page links here as #/submit/<image_no> (?batch=<id> names its capture
// batch, whose match results "View match results" then shows).
import * as api from '../api.js';
import {fill, h, hashLink} from '../dom.js';
import {stateLabel} from '../format.js';
import {t} from '../i18n.js';
import {routes} from '../router.js';
import {session} from '../session.js';
import {errorBox, notAllowed} from './bills.js';
import {matchResults} from './match.js';

const POLL_MS = 2000;
const POLL_MAX_MS = 30000;

// The capture page's route (views/capture.js owns it).
export const captureHash = (imageNo) => '#/capture/' + encodeURIComponent(imageNo);

function crumbs(no) {
    return h('p', {class: 'crumbs'}, hashLink(routes.bills(), null, t('nav_bills')), ' / ',
             hashLink(routes.bill(no), null, no));
}

export function reasonsView(status) {
    const reasons = status.reasons || [];
    return reasons.length
        ? h('ul', {class: 'reasons', 'data-testid': 'reasons'},
            reasons.map((r) => h('li', null, r)))
        : h('p', {class: 'ok', 'data-testid': 'no-error-items'}, t('no_error_items'));
}

export async function renderSubmit(route, el) {
    const no = route.params.imageNo;
    const batch = route.query.batch || '';
    document.title = `${t('submit_title', no)} · imgarc`;
    if (!session.can('submit')) {
        fill(el, h('h1', null, t('submit_title', no)), notAllowed('submit'));
        return;
    }
    const head = h('div', {class: 'bill-head'}, h('h1', null, t('submit_title', no)));
    const before = h('section', {class: 'panel', 'data-testid': 'submit-reasons'},
                     h('h2', null, t('submit_reasons')), h('p', {'aria-busy': 'true'},
                                                         t('loading')));
    const result = h('div', {class: 'submit-result', 'data-testid': 'submit-result',
                             'aria-live': 'polite'});
    const button = h('button', {type: 'button', 'data-testid': 'submit', disabled: true,
                                onclick: submit}, t('submit_button'));
    fill(el, crumbs(no), head, before, h('div', {class: 'actions'}, button), result);

    let status;
    try {
        status = await api.get(['bills', no, 'status']);
    } catch (e) {
        fill(before, h('h2', null, t('submit_reasons')), errorBox(e));
        return;
    }
    const badge = h('span', {class: 'state state-' + status.state, 'data-testid': 'bill-state'},
                    stateLabel(status.state));
    head.appendChild(badge);
    fill(before, h('h2', null, t('submit_reasons')), reasonsView(status));
    button.disabled = false;

    async function submit() {
        button.disabled = true;
        fill(result, h('p', {'aria-busy': 'true'}, t('submitting')));
        let r;
        try {
            r = await api.post(['bills', no, 'submit']);
        } catch (e) {
            fill(result, errorBox(e));
            button.disabled = false;
            return;
        }
        fill(badge, stateLabel(r.state));
        badge.setAttribute('class', 'state state-' + r.state);
        button.hidden = true;
        showOutcome(no, batch, r, result);
    }
}

// Which situation a submit (or match) answer is.
export function situation(r) {
    const inv = r.invoices || {declared: 0, matched: 0};
    if (r.mode === 'match' && (inv.matched ?? 0) < (inv.declared ?? 0)) {
        return 3;
    }
    return r.submit === 'auto' ? 1 : 2;
}

function matchButton(no, batch) {
    return batch
        ? hashLink(routes.batch(batch), {class: 'button secondary', 'data-testid': 'view-match'},
                   t('view_match'))
        : hashLink(routes.match(no), {class: 'button secondary', 'data-testid': 'view-match'},
                   t('view_match'));
}

async function showOutcome(no, batch, r, result) {
    const s = situation(r);
    result.setAttribute('data-situation', String(s));
    if (s === 3) {
        const box = h('div', {'aria-busy': 'true'}, t('loading'));
        fill(result,
             h('p', {class: 'situation bad', 'data-testid': 'situation-3'},
               t('sub_failed_title')),
             box,
             h('div', {class: 'actions'},
               hashLink(captureHash(no), {class: 'button', 'data-testid': 'recapture'},
                        t('recapture')),
               hashLink(routes.match(no), {class: 'button secondary',
                                           'data-testid': 'manual-signoff'},
                        t('manual_signoff'))));
        try {
            fill(box, matchResults(await api.get(['bills', no, 'match'])));
        } catch (e) {
            fill(box, errorBox(e));
        }
        box.setAttribute('aria-busy', 'false');
        return;
    }
    const erp = h('div', {class: 'erp', 'data-testid': 'erp'});
    if (s === 1) {
        fill(result,
             h('p', {class: 'situation good', 'data-testid': 'situation-1'}, t('sub_auto_title')),
             erp,
             h('div', {class: 'actions'},
               hashLink(captureHash(no), {class: 'button', 'data-testid': 'continue-capturing'},
                        t('continue_capturing')),
               matchButton(no, batch),
               hashLink(routes.worklist('signoff'), {class: 'button secondary',
                                                     'data-testid': 'signoff-list'},
                        t('signoff_list'))));
        followErp(no, r.erp, erp);
        return;
    }
    const matches = h('div', {class: 'match-box'});
    const toErp = h('button', {type: 'button', 'data-testid': 'submit-erp',
                               onclick: async () => {
                                   toErp.disabled = true;
                                   await sendToErp(no, erp, () => {
                                       toErp.disabled = false;
                                   });
                               }}, t('submit_erp'));
    const view = h('button', {type: 'button', class: 'secondary', 'data-testid': 'view-match',
                              onclick: async () => {
                                  view.disabled = true;
                                  try {
                                      fill(matches, matchResults(
                                          await api.get(['bills', no, 'match'])));
                                  } catch (e) {
                                      fill(matches, errorBox(e));
                                  }
                              }}, t('view_match'));
    fill(result,
         h('p', {class: 'situation good', 'data-testid': 'situation-2'},
           r.mode === 'match' ? t('sub_manual_title') : t('sub_ready_basic')),
         h('div', {class: 'actions'}, view,
           r.erp && r.erp.state === 'delivered' ? null : toErp),
         matches, erp);
    if (r.erp && r.erp.state !== 'none') {
        followErp(no, r.erp, erp);
    }
}

// POST .../erp-submit, then the ERP's result; @failed runs when the call is refused.
// True when the node took the request.
export async function sendToErp(no, el, failed) {
    let r;
    try {
        r = await api.post(['bills', no, 'erp-submit']);
    } catch (e) {
        fill(el, errorBox(e));
        failed?.();
        return false;
    }
    await followErp(no, r.erp, el);
    return true;
}

function erpLine(erp) {
    const state = erp ? erp.state : 'none';
    const text = state === 'delivered' ? t('erp_delivered')
        : state === 'failed' ? t('erp_failed', erp.error || '')
            : state === 'queued' ? t('erp_queued') : t('erp_none');
    return h('p', {class: 'erp-state erp-' + state, 'data-testid': 'erp-state',
                   'data-state': state}, text);
}

// Shows @erp, then polls status every 2 s (up to 30 s) until the ERP answered.
export async function followErp(no, erp, el) {
    fill(el, erpLine(erp), erp && erp.state === 'queued'
        ? h('p', {class: 'note', 'aria-busy': 'true'}, t('erp_waiting')) : null);
    const start = Date.now();
    let cur = erp;
    while (!cur || cur.state === 'queued' || cur.state === 'none') {
        if (Date.now() - start >= POLL_MAX_MS) {
            fill(el, erpLine(cur), h('p', {class: 'note', 'data-testid': 'erp-timeout'},
                                     t('erp_timeout')));
            return cur;
        }
        await new Promise((res) => setTimeout(res, POLL_MS));
        if (!el.isConnected) {
            return cur; // the page was left
        }
        try {
            const s = await api.get(['bills', no, 'status']);
            cur = s.erp;
        } catch (e) {
            fill(el, errorBox(e));
            return cur;
        }
        if (cur && cur.state === 'none' && (!erp || erp.state === 'none')) {
            // Nothing was queued (a manual scheme before erp-submit): nothing to wait for.
            fill(el, erpLine(cur));
            return cur;
        }
        fill(el, erpLine(cur), cur && cur.state === 'queued'
            ? h('p', {class: 'note', 'aria-busy': 'true'}, t('erp_waiting')) : null);
    }
    return cur;
}
