// Usage against the quota (80% and 95% warnings), the license with its expiry and days
// left, and the admin audit log with a CSV export (fetched with the token, then saved
// through a blob: URL, so no token goes in a link).
import * as api from '../../api.js';
import {fill, h} from '../../dom.js';
import {bytes as formatBytes, localTime} from '../../format.js';
import {t} from '../../i18n.js';
import {session} from '../../session.js';
import {frame, messages, table} from './common.js';

// The share of @quota used by @used in percent (null without a quota).
export function usedPercent(used, quota) {
    return quota > 0 ? Math.round(1000 * used / quota) / 10 : null;
}

export function usageLevel(pct) {
    return pct === null ? 'none' : pct >= 95 ? 'critical' : pct >= 80 ? 'warning' : 'ok';
}

export async function renderUsage(route, el) {
    const msg = messages();
    const body = h('div', {'aria-busy': 'true'}, t('loading'));
    frame(el, 'usage', t('adm_usage'), msg.el, body);
    const tenant = session.current().tenant;
    let u;
    try {
        u = await api.get(['tenants', tenant, 'usage']);
    } catch (e) {
        msg.fail(e);
        fill(body);
        return;
    }
    const pct = usedPercent(u.bytes, u.quota_bytes);
    const level = usageLevel(pct);
    const bar = h('div', {class: 'quota-bar', role: 'img', 'aria-label': pct === null ? ''
        : pct + '%'}, h('div', {class: 'quota-used ' + level}));
    bar.firstChild.style.width = Math.min(100, pct ?? 0) + '%';
    fill(body,
         h('div', {class: 'usage ' + level, 'data-testid': 'usage', 'data-state': level},
           h('p', {class: 'big'}, pct === null
               ? t('adm_used_no_quota', formatBytes(u.bytes))
               : t('adm_used_of', formatBytes(u.bytes), formatBytes(u.quota_bytes), pct)),
           bar,
           level === 'critical' ? h('p', {class: 'error', 'data-testid': 'quota-critical'},
                                    t('adm_quota_critical'))
               : level === 'warning' ? h('p', {class: 'warn', 'data-testid': 'quota-warning'},
                                         t('adm_quota_warning')) : null,
           (u.warnings || []).map((w) => h('p', {class: 'warn', 'data-testid': 'usage-warning'},
                                           String(w)))),
         table('usage-totals', [t('adm_files'), t('adm_bills'), t('adm_logical'),
                                t('adm_physical'), t('adm_max_files')],
               [h('tr', null, h('td', {class: 'num'}, String(u.files)),
                  h('td', {class: 'num'}, String(u.bills)),
                  h('td', {class: 'num'}, formatBytes(u.bytes)),
                  h('td', {class: 'num'}, formatBytes(u.physical_bytes ?? 0)),
                  h('td', {class: 'num'}, u.max_files ? String(u.max_files) : t('adm_no_limit')))]),
         h('h2', null, t('adm_by_org')),
         table('usage-by-org', [t('org'), t('adm_files'), t('adm_bills'), t('adm_logical')],
               Object.entries(u.by_org || {}).map(([org, x]) => h('tr', null,
                   h('td', null, org || t('adm_no_org')), h('td', {class: 'num'}, String(x.files)),
                   h('td', {class: 'num'}, String(x.bills)),
                   h('td', {class: 'num'}, formatBytes(x.bytes))))));
    body.setAttribute('aria-busy', 'false');
}

function licenseRows(l) {
    return [
        [t('adm_license_id'), l.license_id],
        [t('adm_expires'), localTime(l.expires)],
        [t('adm_days_left'), String(l.expires_in_days)],
        [t('adm_quota'), l.quota_bytes ? formatBytes(l.quota_bytes) : t('adm_no_limit')],
        [t('adm_max_files'), l.max_files ? String(l.max_files) : t('adm_no_limit')],
        [t('adm_modes'), (l.modes || []).join(', ')],
        [t('adm_issued'), localTime(l.issued)],
        [t('adm_installed'), localTime(l.installed)],
    ].map(([k, v]) => h('tr', null, h('th', {scope: 'row'}, k), h('td', null, v ?? '')));
}

export async function renderLicense(route, el) {
    const msg = messages();
    const body = h('div', {'aria-busy': 'true'}, t('loading'));
    frame(el, 'license', t('adm_license'), msg.el, body);
    let d;
    try {
        d = await api.get(['licenses']);
    } catch (e) {
        msg.fail(e);
        fill(body);
        return;
    }
    const l = d.license;
    const days = l ? Number(l.expires_in_days) : null;
    const level = !l ? 'critical' : days <= 0 ? 'critical' : days <= 30 ? 'warning' : 'ok';
    fill(body,
         h('div', {class: 'license ' + level, 'data-testid': 'license', 'data-state': level},
           l ? h('p', {class: 'big', 'data-testid': 'days-left'},
                 days > 0 ? t('adm_license_days', days, localTime(l.expires))
                     : t('adm_license_expired', localTime(l.expires)))
             : h('p', {class: 'error'}, t('adm_no_license')),
           l && l.warning ? h('p', {class: 'warn'}, String(l.warning)) : null,
           l ? h('table', {class: 'meta'}, h('tbody', null, licenseRows(l))) : null),
         h('h2', null, t('adm_license_history')),
         table('license-history', [t('adm_license_id'), t('adm_issued'), t('adm_expires'),
                                   t('adm_quota'), t('adm_modes')],
               (d.history || []).map((x) => h('tr', null, h('td', null, x.license_id),
                   h('td', null, localTime(x.issued)), h('td', null, localTime(x.expires)),
                   h('td', null, x.quota_bytes ? formatBytes(x.quota_bytes) : t('adm_no_limit')),
                   h('td', null, (x.modes || []).join(', '))))),
         h('p', {class: 'note'}, t('adm_license_note')));
    body.setAttribute('aria-busy', 'false');
}

export async function renderAudit(route, el) {
    const msg = messages();
    const body = h('div', {'aria-busy': 'true'}, t('loading'));
    const exportLink = h('span', {class: 'export'});
    const exportButton = h('button', {type: 'button', class: 'secondary',
                                      'data-testid': 'export-csv', onclick: exportCsv},
                           t('adm_export_csv'));
    frame(el, 'audit', t('adm_audit'), msg.el, h('p', null, exportButton, ' ', exportLink), body);
    const after = route.query.after || '';
    let d;
    try {
        d = await api.get(['audit'], {after, limit: '200'});
    } catch (e) {
        msg.fail(e);
        fill(body);
        return;
    }
    fill(body, table('audit-list', ['#', t('adm_time'), t('adm_action'), t('adm_by'),
                                    t('adm_detail')],
                     d.entries.map((x) => h('tr', {'data-testid': 'audit-row'},
                         h('td', {class: 'num'}, String(x.index)),
                         h('td', null, localTime(x.time)), h('td', null, x.action),
                         h('td', null, x.operator || ''),
                         h('td', null, h('code', {class: 'detail'}, JSON.stringify(x.detail)))))));
    body.setAttribute('aria-busy', 'false');

    async function exportCsv() {
        msg.clear();
        exportButton.disabled = true;
        try {
            const res = await fetch(api.apiPath(['audit'], {format: 'csv', limit: '10000',
                                                           tenant: session.current().tenant}),
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
            // A blob: URL made here from the answer, never from data: a safe href.
            const a = h('a', {class: 'button', 'data-testid': 'csv-link'}, t('adm_save_csv'));
            a.setAttribute('href', URL.createObjectURL(blob));
            a.setAttribute('download', 'audit-' + session.current().tenant + '.csv');
            fill(exportLink, a);
            a.click();
        } catch (e) {
            msg.fail(e);
        } finally {
            exportButton.disabled = false;
        }
    }
}
