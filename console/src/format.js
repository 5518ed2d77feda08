// Plain helpers for showing the API's values (no DOM; tests/unit/logic.test.mjs).
import {t} from './i18n.js';

export const STATES = ['pending_upload', 'captured', 'submitted', 'ready', 'erp_submitted',
                       'erp_failed', 'returned'];

export function stateLabel(s) {
    return STATES.includes(s) ? t('st_' + s) : String(s);
}

export function bytes(n) {
    if (!Number.isFinite(n) || n < 0) {
        return '';
    }
    if (n < 1024) {
        return `${n} B`;
    }
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let v = n;
    let i = -1;
    do {
        v /= 1024;
        i++;
    } while (v >= 1024 && i < units.length - 1);
    return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// An RFC 3339 time shown in local time: "2026-12-06 15:04:05"; "" for null.
export function localTime(rfc3339) {
    if (!rfc3339) {
        return '';
    }
    const d = new Date(rfc3339);
    if (Number.isNaN(d.getTime())) {
        return String(rfc3339);
    }
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
        `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Local midnight of a "YYYY-MM-DD" date (plus @days) as RFC 3339 with the local offset,
// for created_from / created_to (a date typed in the console is a local date).
export function localMidnight(date, days = 0) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date || '');
    if (!m) {
        return null;
    }
    const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + days, 0, 0, 0);
    const off = -d.getTimezoneOffset();
    const sign = off >= 0 ? '+' : '-';
    const a = Math.abs(off);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T00:00:00` +
        `${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

// The bill list's API query from the console's filter values (the hash query).
export const FILTERS = ['state', 'bill_no', 'image_no', 'bill_type', 'org', 'from', 'to'];
export function billQuery(f, cursor, limit) {
    const q = {};
    for (const k of ['state', 'bill_no', 'image_no', 'bill_type', 'org']) {
        if (typeof f[k] === 'string' && f[k].trim() !== '') {
            q[k] = f[k].trim();
        }
    }
    const from = localMidnight(f.from);
    const to = localMidnight(f.to, 1);
    if (from) {
        q.created_from = from;
    }
    if (to) {
        q.created_to = to;
    }
    if (limit) {
        q.limit = String(limit);
    }
    if (cursor) {
        q.cursor = cursor;
    }
    return q;
}

// How the viewer shows a format: 'image', 'pdf', 'tiff', 'text' or 'card' (a metadata
// card and a Download button). The format is a hint (the server decides inline or attachment).
export function viewerKind(format) {
    switch (format) {
    case 'jpg':
    case 'png':
        return 'image';
    case 'pdf':
        return 'pdf';
    case 'tiff':
        return 'tiff';
    case 'txt':
        return 'text';
    default:
        return 'card';
    }
}

export const SECTIONS = ['cover', 'invoice', 'attachment'];

// The bill's files in sections: cover, invoice, attachment, then each custom category in
// the order it first appears. A merged document's parts are listed under it (not as
// items of their own). Answers [{category, label, items: [{file, parts: [file]}],
// count (items), pages (all pages, parts included)}], every built-in section present.
export function groupFiles(files) {
    const byId = new Map((files || []).map((f) => [f.file_id, f]));
    const sections = new Map(SECTIONS.map((c) => [c, []]));
    for (const f of files || []) {
        if (f.merged_into && byId.has(f.merged_into)) {
            continue;
        }
        if (!sections.has(f.category)) {
            sections.set(f.category, []);
        }
        const parts = (f.parts || []).map((id) => byId.get(id)).filter(Boolean);
        sections.get(f.category).push({file: f, parts});
    }
    return [...sections].map(([category, items]) => ({
        category,
        label: SECTIONS.includes(category) ? t('sec_' + category) : category,
        items,
        count: items.length,
        pages: items.reduce((n, it) => n + docPages(it), 0),
    }));
}

function docPages(item) {
    return [item.file, ...item.parts].reduce((n, f) => n + (Number(f.pages) || 1), 0);
}

// A merged document's page map: the document (its first file, then its parts in
// order) as [{file, page (1-based within the file), global (1-based)}].
export function pageMap(files) {
    const out = [];
    for (const f of files) {
        const n = Math.max(1, Number(f.pages) || 1);
        for (let p = 1; p <= n; p++) {
            out.push({file: f, page: p, global: out.length + 1});
        }
    }
    return out;
}

// The rotation pdf.js draws a page at: its own /Rotate plus the file's saved rotation.
export function pageRotation(pageRotate, fileRotation) {
    return (((Number(pageRotate) || 0) + (Number(fileRotation) || 0)) % 360 + 360) % 360;
}

// Zoom steps: +-25% of 100, within 10%-800%.
export function zoomStep(scale, dir) {
    const pct = Math.round(scale * 100);
    const next = dir > 0 ? Math.floor(pct / 25) * 25 + 25 : Math.ceil(pct / 25) * 25 - 25;
    return Math.min(8, Math.max(0.1, next / 100));
}
