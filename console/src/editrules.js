// The capture page's plain rules (no DOM; tests/unit/capture.test.mjs): which image
// numbers are valid, the batch id, which edits the bill's state allows, which toolbar
// actions the selection enables (seed 002, DOMAIN.md "Capture"), the selection ranges,
// and the category a refused move asks to confirm.

export const IMAGE_NO_RE = /^[A-Za-z0-9._-]{1,64}$/;

export function validImageNo(s) {
    return typeof s === 'string' && IMAGE_NO_RE.test(s);
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// One capture session's batch: web-<user>-<yyyymmddHHMMSS>-<4 hex>, so "this batch's
// match results" (GET /batches/{b}/match) covers what this page uploaded.
export function batchId(user, now = new Date(), rand = Math.random()) {
    const u = String(user || 'user').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 32);
    const ts = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}` +
        `${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
    const r = Math.floor(rand * 0x10000).toString(16).padStart(4, '0');
    return `web-${u}-${ts}-${r}`;
}

// What the bill's state lets a capture page do (docs/API.md "Editing a captured bill"):
//  'edit'       captured, returned or a new bill: every edit;
//  'supplement' submitted or later with a cover: only new files are added (FAQ 3);
//  'amend'      a sync-mode bill that is ready or erp_submitted, for a user with the amend
//               permission: add, replace, delete (never the cover) (FAQ 2);
//  'closed'     anything else: only rotation (allowed in every state).
export function editMode(state, mode, files, canAmend) {
    if (!state || state === 'captured' || state === 'returned' || state === 'pending_upload') {
        return 'edit';
    }
    if (mode === 'sync' && canAmend && (state === 'ready' || state === 'erp_submitted')) {
        return 'amend';
    }
    if ((files || []).some((f) => f.category === 'cover')) {
        return 'supplement';
    }
    return 'closed';
}

// The files the page lists as items: documents (a merged document's parts are not items).
export function topLevel(files) {
    return (files || []).filter((f) => !f.merged_into);
}

// True when the files @ids stand next to each other in bill order (parts of merged
// documents count as files between them).
export function contiguous(files, ids) {
    const idx = ids.map((id) => (files || []).findIndex((f) => f.file_id === id));
    if (idx.some((i) => i < 0)) {
        return false;
    }
    idx.sort((a, b) => a - b);
    return idx.every((v, i) => i === 0 || v === idx[i - 1] + 1);
}

// Which toolbar actions are open. @sel: the selected files (objects, in bill order);
// @mode: editMode(); @can(permission); @hasCustom: custom categories exist.
export function enabled(files, sel, mode, can, hasCustom) {
    const n = sel.length;
    const merged = sel.some((f) => (f.parts || []).length > 0 || f.merged_into);
    const cats = new Set(sel.map((f) => f.category));
    const edit = mode === 'edit' && can('edit');
    const capture = can('capture');
    const any = n >= 1 && !merged;
    const replaceable = any && cats.size === 1 && !cats.has('cover');
    return {
        import: capture && mode !== 'closed',
        invoice: edit && n === 1 && !merged,
        attachment: edit && any,
        other: edit && any && hasCustom,
        cover: edit && any,
        replace: capture && (mode === 'edit' || mode === 'amend') && replaceable &&
            (mode !== 'amend' || !sel.some((f) => f.match)),
        replaceCover: capture && (mode === 'edit' || mode === 'amend') && n === 1 && !merged &&
            sel[0].category === 'cover',
        insert: capture && mode === 'edit' && n === 1,
        merge: edit && n >= 2 && !merged && contiguous(files, sel.map((f) => f.file_id)),
        split: edit && n === 1 && (sel[0].parts || []).length > 0,
        del: can('delete') && (mode === 'edit' || mode === 'amend') && any &&
            (mode !== 'amend' || !cats.has('cover')),
        rotate: can('edit') && n >= 1,
        move: edit,
    };
}

// Shift-click: the ids from @anchor to @target (either order) in @order; just @target
// when the anchor is not in the list.
export function rangeIds(order, anchor, target) {
    const a = order.indexOf(anchor);
    const b = order.indexOf(target);
    if (b < 0) {
        return [];
    }
    if (a < 0) {
        return [target];
    }
    return order.slice(Math.min(a, b), Math.max(a, b) + 1);
}

// The category a move's 409 asks to confirm ('... confirm with "category": "X"'), or null.
export function confirmCategory(message) {
    const m = /confirm with "category": "([^"]+)"/.exec(message || '');
    return m ? m[1] : null;
}

// Where a file dropped on @target lands: {after: id|null}. @before: dropped on the
// upper half (the file goes before @target), else after it. @files in bill order.
export function dropAfter(files, targetId, before) {
    if (!before) {
        return targetId;
    }
    const i = (files || []).findIndex((f) => f.file_id === targetId);
    return i > 0 ? files[i - 1].file_id : null;
}
