// The capture page (seed 002 "影像采集后，查看采集的文件"; console-design.md 1.2):
// #/capture opens or creates a bill by image number (typed, or a barcode gun: typed +
// Enter); #/capture/<image_no> shows the bill tree on the left (cover, invoices,
// attachments, each custom category, with counts and file items), the viewer in the
// middle and the file's details on the right. Files come in by the picker or a drop
// on the page and go up one at a time (upload.js). Every edit of seed 002 is a
// toolbar button, open only when the selection and the bill's state allow it
// (editrules.js); the node decides anyway, and its refusals are shown with its
// message. Every write re-reads the bill. Scanner (TWAIN) capture is out of scope: a
// browser cannot drive a scanner; import the files the scanner software saves.
import * as api from '../api.js';
import {fill, h, hashLink} from '../dom.js';
import {bytes, groupFiles, localTime, stateLabel} from '../format.js';
import {t} from '../i18n.js';
import {go, routes} from '../router.js';
import {session} from '../session.js';
import {batchId, confirmCategory, dropAfter, editMode, enabled, rangeIds, topLevel,
        validImageNo} from '../editrules.js';
import {UploadQueue} from '../upload.js';
import {createViewer} from '../viewer/viewer.js';
import {errorBox, notAllowed} from './bills.js';

// What the picker offers (002 本地导入): PDF, OFD, images, Office, text, XML.
const ACCEPT = '.pdf,.ofd,.png,.jpg,.jpeg,.tif,.tiff,.doc,.docx,.xls,.xlsx,.ppt,.pptx,.txt,' +
    '.xml,application/pdf,image/*';
const DRAG_TYPE = 'application/x-imgarc-file';
// Names whose type the archive knows (docs/API.md: the content's magic number decides
// pdf, jpg, png, tiff and xml; the extension ofd, Office and txt).
const KNOWN = /\.(pdf|ofd|png|jpe?g|tiff?|docx?|xlsx?|pptx?|txt|xml)$/i;

// One batch per page load and user: what this tab captures.
let batch = null;

export function renderCapture(route, el) {
    document.title = `${t('nav_capture')} · imgarc`;
    if (!session.can('capture')) {
        fill(el, h('h1', null, t('nav_capture')), notAllowed('capture'));
        return;
    }
    const no = route.params.imageNo;
    if (!no) {
        fill(el, h('h1', null, t('cap_title')), openForm(null));
        return;
    }
    if (!validImageNo(no)) {
        fill(el, h('h1', null, t('cap_title')), openForm(null),
             h('p', {class: 'error', role: 'alert'}, t('cap_bad_no')));
        return;
    }
    if (batch === null) {
        batch = batchId(session.current()?.username);
    }
    new CapturePage(no, el).load();
}

// The open-or-create form: an image number typed or read by a barcode gun (which types
// the number and Enter).
function openForm(current) {
    const input = h('input', {id: 'cap-no', name: 'image_no', maxlength: '64', required: true,
                              autocomplete: 'off', spellcheck: 'false', autofocus: !current,
                              pattern: '[A-Za-z0-9._\\-]{1,64}', placeholder: t('cap_no_hint'),
                              'data-testid': 'cap-no'});
    const msg = h('span', {class: 'error', 'aria-live': 'polite', 'data-testid': 'cap-no-msg'});
    const form = h('form', {class: 'cap-open', 'data-testid': 'cap-open',
                            onsubmit: (ev) => {
                                ev.preventDefault();
                                const v = input.value.trim();
                                if (!validImageNo(v)) {
                                    fill(msg, t('cap_bad_no'));
                                    return;
                                }
                                input.value = '';
                                go(routes.capture(v));
                            }},
                   h('label', {for: 'cap-no'}, t('image_no')), input,
                   h('button', {type: 'submit', 'data-testid': 'cap-go'}, t('cap_open')), msg);
    queueMicrotask(() => {
        if (!current) {
            input.focus();
        }
    });
    return form;
}

// A modal question in the page (never window.confirm). Answers the chosen value, or
// null on Cancel or Escape. @choices: [{value, label}] shown as a list to pick from.
function ask(text, okLabel, choices) {
    return new Promise((resolve) => {
        const select = choices ? h('select', {'data-testid': 'ask-choice',
                                              'aria-label': t('category')},
                                   choices.map((c) => h('option', {value: c.value}, c.label)))
            : null;
        const done = (v) => {
            dlg.close();
            dlg.remove();
            resolve(v);
        };
        const dlg = h('dialog', {class: 'ask', 'data-testid': 'ask'},
                      h('p', {'data-testid': 'ask-text'}, text),
                      select,
                      h('div', {class: 'ask-buttons'},
                        h('button', {type: 'button', 'data-testid': 'ask-ok',
                                     onclick: () => done(select ? select.value : true)}, okLabel),
                        h('button', {type: 'button', class: 'secondary',
                                     'data-testid': 'ask-cancel',
                                     onclick: () => done(null)}, t('cap_cancel'))));
        dlg.addEventListener('cancel', (ev) => {
            ev.preventDefault();
            done(null);
        });
        document.body.appendChild(dlg);
        dlg.showModal();
    });
}

class CapturePage {
    constructor(no, el) {
        this.no = no;
        this.el = el;
        this.bill = null; // null: a new bill (404)
        this.status = null;
        this.categories = [];
        this.sel = new Set();
        this.anchor = null;
        this.current = null; // the file id shown in the viewer
        this.shownSig = '';
        this.viewer = null;
        this.busy = false;
        this.queue = new UploadQueue(no, batch, () => this.renderUploads(),
                                     () => this.reload());
        this.picker = h('input', {type: 'file', hidden: true, 'data-testid': 'picker',
                                  onchange: () => this.picked()});
        this.picker.multiple = true;
        this.picker.accept = ACCEPT;
        this.pickFor = null;
        this.msg = h('div', {class: 'cap-msg', 'aria-live': 'polite', 'data-testid': 'cap-msg'});
        this.banner = h('div', {class: 'cap-banner', 'data-testid': 'cap-banner', hidden: true});
        this.head = h('div', {class: 'bill-head'});
        this.tools = h('div', {class: 'cap-tools', role: 'toolbar',
                               'aria-label': t('cap_actions'), 'data-testid': 'cap-tools'});
        this.uploads = h('div', {class: 'cap-uploads', 'data-testid': 'uploads', hidden: true});
        this.tree = h('nav', {class: 'files cap-tree', 'aria-label': t('files'),
                              'data-testid': 'files'});
        this.viewerHost = h('div', {class: 'viewer-host', 'data-testid': 'viewer-host'},
                            h('p', {class: 'empty'}, t('select_file')));
        this.details = h('aside', {class: 'cap-details', 'data-testid': 'details'});
    }

    async load() {
        fill(this.el, this.crumbs(), h('p', {'aria-busy': 'true'}, t('loading')));
        try {
            const c = await api.get(['categories']);
            this.categories = Array.isArray(c && c.categories) ? c.categories : [];
        } catch {
            this.categories = [];
        }
        fill(this.el, this.crumbs(), this.banner, this.head, this.tools, this.msg, this.uploads,
             h('div', {class: 'cap-body', 'data-testid': 'capture',
                       ondragover: (ev) => this.pageDragOver(ev),
                       ondrop: (ev) => this.pageDrop(ev)},
               this.tree, this.viewerHost, this.details),
             this.picker);
        await this.reload();
    }

    crumbs() {
        return h('p', {class: 'crumbs'}, hashLink(routes.capture(), null, t('nav_capture')), ' / ',
                 this.no, ' · ', hashLink(routes.bill(this.no), null, t('cap_bill_page')));
    }

    // Reads the bill and its status again, then redraws. A 404 is a new bill.
    async reload() {
        const seg = ['bills', this.no];
        const [b, s] = await Promise.allSettled([api.get(seg, null, {expect: 404}),
                                                 api.get([...seg, 'status'], null,
                                                         {expect: 404})]);
        if (b.status === 'rejected') {
            if (b.reason.status !== 404) {
                fill(this.msg, errorBox(b.reason));
                return;
            }
            this.bill = null;
            this.status = null;
        } else {
            this.bill = b.value;
            this.status = s.status === 'fulfilled' ? s.value : null;
        }
        const ids = new Set(this.files().map((f) => f.file_id));
        for (const id of [...this.sel]) {
            if (!ids.has(id)) {
                this.sel.delete(id);
            }
        }
        if (this.current && !ids.has(this.current)) {
            this.current = null;
        }
        this.render();
    }

    files() {
        return this.bill ? this.bill.files || [] : [];
    }

    file(id) {
        return this.files().find((f) => f.file_id === id) || null;
    }

    mode() {
        return editMode(this.bill && this.bill.state, this.status && this.status.mode,
                        this.files(), session.can('amend'));
    }

    selected() {
        return this.files().filter((f) => this.sel.has(f.file_id));
    }

    render() {
        this.renderHead();
        this.renderBanner();
        this.renderTree();
        this.renderTools();
        this.renderDetails();
        this.renderViewer();
        this.renderUploads();
    }

    renderHead() {
        const b = this.bill;
        const st = this.status;
        const n = topLevel(this.files()).length;
        const inv = st && st.invoices ? st.invoices : (b && b.invoices && b.invoices.length
            ? {declared: b.invoices.length, matched: 0} : null);
        fill(this.head, h('h1', {'data-testid': 'cap-image-no'}, this.no),
             b ? h('span', {class: 'state state-' + b.state, 'data-testid': 'bill-state'},
                   stateLabel(b.state))
               : h('span', {class: 'state', 'data-testid': 'bill-state'}, t('cap_new')),
             h('span', {class: 'cap-counts', 'data-testid': 'cap-counts'},
               t('cap_copies', n, this.files().reduce((p, f) => p + (Number(f.pages) || 1), 0)),
               inv && inv.declared
                   ? ' · ' + t('matched_of', inv.matched ?? 0, inv.declared ?? 0) : ''),
             this.submitButton());
    }

    // Submit goes to the submit page (#/submit/<image_no>: the status reasons, then the
    // submit and its result), for a captured or returned bill with files.
    submitButton() {
        const st = this.bill && this.bill.state;
        if (session.can('submit') && this.files().length > 0 &&
            (st === 'captured' || st === 'returned')) {
            return hashLink('#/submit/' + encodeURIComponent(this.no),
                            {class: 'button', 'data-testid': 'act-submit'}, t('cap_submit'));
        }
        return h('button', {type: 'button', disabled: true, 'data-testid': 'act-submit',
                            title: t('cap_submit_title')}, t('cap_submit'));
    }

    renderBanner() {
        const m = this.mode();
        const b = this.bill;
        const lic = this.queue.jobs.find((j) => j.state === 'failed' && j.error &&
                                        j.error.code === 10888);
        let text = '';
        if (lic) {
            text = t('cap_license', lic.error.message);
        } else if (m === 'supplement') {
            text = t('cap_supplement', stateLabel(b.state));
        } else if (m === 'amend') {
            text = t('cap_amend', stateLabel(b.state));
        } else if (m === 'closed') {
            text = t('cap_closed', stateLabel(b.state));
        } else if (!b) {
            text = t('cap_new_note');
        }
        this.banner.hidden = text === '';
        this.banner.setAttribute('data-state', lic ? 'license' : m);
        fill(this.banner, text);
    }

    // The bill tree: a section per category (the built-in three, then every custom
    // category, defined or in use), each with its count and items.
    renderTree() {
        const groups = groupFiles(this.files());
        const have = new Set(groups.map((g) => g.category));
        for (const c of this.categories) {
            if (c && typeof c.code === 'string' && !have.has(c.code)) {
                groups.push({category: c.code, items: [], count: 0});
                have.add(c.code);
            }
        }
        const names = new Map(this.categories.map((c) => [c.code, c.name || c.code]));
        this.order = groups.flatMap((g) => g.items.map((it) => it.file.file_id));
        fill(this.tree, groups.map((g) => this.section(g, names)));
    }

    label(category) {
        if (['cover', 'invoice', 'attachment'].includes(category)) {
            return t('sec_' + category);
        }
        const c = this.categories.find((x) => x.code === category);
        return c && c.name ? c.name : category;
    }

    section(g) {
        const sec = h('section', {class: 'file-section', 'data-category': g.category,
                                  'data-count': String(g.count),
                                  'data-testid': 'section-' + g.category},
                      h('h2', null, this.label(g.category), ' ',
                        h('span', {class: 'count', 'data-testid': 'count'}, String(g.count))),
                      g.items.length ? h('ul', null, g.items.map((it) => this.item(it)))
                                     : h('p', {class: 'empty cap-drop'}, t('none')));
        sec.addEventListener('dragover', (ev) => {
            if (this.dragging(ev)) {
                ev.preventDefault();
                ev.dataTransfer.dropEffect = 'move';
            }
        });
        sec.addEventListener('drop', (ev) => {
            if (!this.dragging(ev)) {
                return;
            }
            ev.preventDefault();
            ev.stopPropagation();
            const id = ev.dataTransfer.getData(DRAG_TYPE);
            const last = g.items.at(-1);
            if (last) {
                this.moveFile(id, lastFileOf(last));
            } else {
                this.dropIntoEmpty(id, g.category);
            }
        });
        return sec;
    }

    item(it) {
        const f = it.file;
        const id = f.file_id;
        const edit = this.mode() === 'edit' && session.can('edit');
        const row = h('li', {class: 'file-item', tabindex: '0', role: 'option',
                             'aria-selected': undefined, 'data-file-id': id,
                             'data-format': f.format, 'data-testid': 'file-item',
                             draggable: edit && !it.parts.length ? 'true' : null,
                             onclick: (ev) => this.click(id, ev),
                             onkeydown: (ev) => this.key(id, ev),
                             ondragstart: (ev) => {
                                 ev.dataTransfer.setData(DRAG_TYPE, id);
                                 ev.dataTransfer.effectAllowed = 'move';
                                 row.classList.add('dragging');
                             },
                             ondragend: () => row.classList.remove('dragging'),
                             ondragover: (ev) => {
                                 if (!this.dragging(ev)) {
                                     return;
                                 }
                                 ev.preventDefault();
                                 ev.stopPropagation();
                                 const r = row.getBoundingClientRect();
                                 const before = ev.clientY < r.top + r.height / 2;
                                 row.classList.toggle('drop-before', before);
                                 row.classList.toggle('drop-after', !before);
                             },
                             ondragleave: () => row.classList.remove('drop-before', 'drop-after'),
                             ondrop: (ev) => {
                                 if (!this.dragging(ev)) {
                                     return;
                                 }
                                 ev.preventDefault();
                                 ev.stopPropagation();
                                 const before = row.classList.contains('drop-before');
                                 row.classList.remove('drop-before', 'drop-after');
                                 const moving = ev.dataTransfer.getData(DRAG_TYPE);
                                 const after = before ? dropAfter(this.files(), id, true)
                                                      : lastFileOf(it);
                                 this.moveFile(moving, after);
                             }},
                      h('span', {class: 'fmt fmt-' + f.format}, String(f.format).toUpperCase()),
                      h('span', {class: 'name'}, f.name),
                      h('span', {class: 'meta'},
                        `#${f.position} · ${t('pages_short', f.pages)} · ${bytes(f.size)}` +
                        (f.rotation ? ` · ${f.rotation}°` : '') +
                        (f.match ? ` · ${t('cap_matched')}` : '') +
                        (f.amended ? ` · ${t('cap_amended')}` : '') +
                        (it.parts.length ? ` · ${t('merged_files', it.parts.length + 1)}` : '')),
                      it.parts.length ? h('ul', {class: 'parts'},
                                          it.parts.map((p) => h('li', null, p.name))) : null);
        if (this.sel.has(id)) {
            row.setAttribute('aria-selected', 'true');
            row.classList.add('selected');
        }
        if (this.current === id) {
            row.setAttribute('aria-current', 'true');
        }
        return row;
    }

    dragging(ev) {
        return ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes(DRAG_TYPE);
    }

    // Click selects one, Ctrl/Cmd-click toggles one, Shift-click selects a range.
    click(id, ev) {
        if (ev.shiftKey && this.anchor) {
            this.sel = new Set(rangeIds(this.order, this.anchor, id));
        } else if (ev.ctrlKey || ev.metaKey) {
            if (this.sel.has(id)) {
                this.sel.delete(id);
            } else {
                this.sel.add(id);
            }
            this.anchor = id;
        } else {
            this.sel = new Set([id]);
            this.anchor = id;
        }
        this.current = id;
        this.renderTree();
        this.renderTools();
        this.renderDetails();
        this.renderViewer();
        const row = this.tree.querySelector(`[data-file-id="${CSS.escape(id)}"]`);
        if (row) {
            row.focus();
        }
    }

    // Keys on an item: Enter/Space select (with Ctrl/Shift as a click), arrows move the
    // focus, Delete deletes the selection.
    key(id, ev) {
        if (ev.key === 'Enter' || ev.key === ' ') {
            ev.preventDefault();
            this.click(id, ev);
        } else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
            ev.preventDefault();
            const i = this.order.indexOf(id) + (ev.key === 'ArrowDown' ? 1 : -1);
            if (i >= 0 && i < this.order.length) {
                this.click(this.order[i], ev);
            }
        } else if (ev.key === 'Delete' && this.can().del) {
            ev.preventDefault();
            this.remove();
        }
    }

    can() {
        return enabled(this.files(), this.selected(), this.mode(), (p) => session.can(p),
                       this.categories.length > 0);
    }

    renderTools() {
        const c = this.can();
        const busy = this.busy;
        const b = (key, testid, on, fn, cls) =>
            h('button', {type: 'button', class: cls || 'secondary', 'data-testid': testid,
                         disabled: busy || !on, title: t(key + '_title'), onclick: fn}, t(key));
        fill(this.tools,
             b('cap_import', 'act-import', c.import, () => this.pick('append'), 'primary'),
             h('span', {class: 'sep'}),
             b('cap_set_invoice', 'act-invoice', c.invoice, () => this.categorize('invoice')),
             b('cap_set_attachment', 'act-attachment', c.attachment,
               () => this.categorize('attachment')),
             b('cap_set_other', 'act-other', c.other, () => this.categorizeOther()),
             b('cap_set_cover', 'act-cover', c.cover, () => this.categorize('cover')),
             h('span', {class: 'sep'}),
             b('cap_replace', 'act-replace', c.replace, () => this.pick('replace')),
             b('cap_replace_cover', 'act-replace-cover', c.replaceCover,
               () => this.pick('replaceCover')),
             b('cap_insert', 'act-insert', c.insert, () => this.pick('insert')),
             h('span', {class: 'sep'}),
             b('cap_merge', 'act-merge', c.merge, () => this.merge()),
             b('cap_split', 'act-split', c.split, () => this.split()),
             b('cap_rotate_left', 'act-rotate-left', c.rotate, () => this.rotate(-90)),
             b('cap_rotate_right', 'act-rotate-right', c.rotate, () => this.rotate(90)),
             b('cap_delete', 'act-delete', c.del, () => this.remove(), 'danger'),
             h('span', {class: 'spacer'}),
             h('span', {class: 'cap-selcount', 'data-testid': 'sel-count'},
               t('cap_selected', this.sel.size)));
    }

    renderDetails() {
        const f = this.current ? this.file(this.current) : null;
        const st = this.status;
        const rows = [];
        if (f) {
            const inv = f.invoice || null;
            rows.push(h('h2', null, t('cap_file')),
                      dl([[t('cap_name'), f.name], [t('format'), String(f.format).toUpperCase()],
                          [t('size'), bytes(f.size)], [t('pages'), String(f.pages)],
                          [t('category'), this.label(f.category)],
                          [t('cap_position'), String(f.position)],
                          [t('cap_rotation'), `${f.rotation || 0}°`],
                          [t('captured_by'), f.captured_by],
                          [t('captured_at'), localTime(f.captured_at)],
                          [t('cap_match'), f.match || ''],
                          [t('cap_merged'), (f.parts || []).length
                              ? t('merged_files', f.parts.length + 1) : ''],
                          inv ? [t('inv_number'), inv.number] : null,
                          inv ? [t('inv_code'), inv.code] : null,
                          inv ? [t('inv_date'), inv.date] : null,
                          inv ? [t('amount'), inv.amount] : null,
                          inv ? [t('inv_tax'), inv.tax] : null,
                          inv ? [t('inv_total'), inv.total] : null], 'file-details'));
        } else {
            rows.push(h('p', {class: 'empty'}, t('select_file')));
        }
        if (st) {
            rows.push(h('h2', null, t('status')),
                      dl([[t('state'), stateLabel(st.state)],
                          [t('mode'), st.mode || t('mode_undecided')],
                          [t('files'), t('file_counts', st.files, st.counts || {})]],
                         'bill-status'),
                      (st.reasons || []).length
                          ? h('ul', {class: 'reasons', 'data-testid': 'reasons'},
                              st.reasons.map((r) => h('li', null, r)))
                          : h('p', {class: 'ok'}, t('no_reasons')));
        }
        fill(this.details, rows);
    }

    // The viewer shows the current file (a merged document as one); it reopens only when
    // what it shows changed (another file, a rotation, parts).
    renderViewer() {
        const f = this.current ? this.file(this.current) : null;
        if (!f) {
            this.shownSig = '';
            if (this.viewer === null) {
                fill(this.viewerHost, h('p', {class: 'empty'}, t('select_file')));
            }
            return;
        }
        const parts = (f.parts || []).map((id) => this.file(id)).filter(Boolean);
        const doc = [f, ...parts];
        const sig = doc.map((x) => `${x.file_id}:${x.rotation || 0}:${x.blob}`).join(',');
        if (sig === this.shownSig) {
            return;
        }
        this.shownSig = sig;
        if (this.viewer === null) {
            this.viewer = createViewer(this.viewerHost);
        }
        this.viewer.open(doc);
    }

    // The upload list keeps one element per job and rebuilds a row only when its
    // state changes: progress events come many times a second, and a row rebuilt
    // under the pointer would swallow a click on its Cancel button.
    renderUploads() {
        const jobs = this.queue.jobs;
        this.renderBanner();
        this.uploads.hidden = jobs.length === 0;
        if (!this.uploadRows) {
            this.uploadRows = new Map();
            this.uploadCount = h('strong');
            this.uploadClear = h('button', {type: 'button', class: 'link',
                                            'data-testid': 'uploads-clear',
                                            onclick: () => this.queue.clearDone()},
                                 t('cap_clear_done'));
            this.uploadList = h('ul');
            fill(this.uploads, h('div', {class: 'cap-uploads-head'}, this.uploadCount,
                                 this.uploadClear), this.uploadList);
        }
        const done = jobs.filter((j) => j.state === 'done').length;
        this.uploadCount.textContent = t('cap_uploads', done, jobs.length);
        this.uploadClear.disabled = !jobs.some((j) => j.state === 'done' ||
                                              j.state === 'cancelled');
        const rows = jobs.map((j) => this.jobRow(j));
        for (const id of this.uploadRows.keys()) {
            if (!jobs.some((j) => j.id === id)) {
                this.uploadRows.delete(id);
            }
        }
        const now = this.uploadList.children;
        if (now.length !== rows.length || rows.some((li, i) => now[i] !== li)) {
            this.uploadList.replaceChildren(...rows);
        }
    }

    // The row of job @j: built again when its state or error changed, else updated in
    // place (progress bar, byte count, state text).
    jobRow(j) {
        const shape = `${j.state}|${j.error && j.error.requestId}`;
        let row = this.uploadRows.get(j.id);
        if (!row || row.shape !== shape) {
            row = this.jobElements(j);
            row.shape = shape;
            this.uploadRows.set(j.id, row);
        }
        row.li.setAttribute('data-count', String(j.sent));
        row.bar.max = j.total || 1;
        row.bar.value = j.state === 'done' || j.state === 'storing' ? (j.total || 1) : j.sent;
        row.text.textContent = this.jobText(j);
        return row.li;
    }

    jobText(j) {
        switch (j.state) {
        case 'waiting': return t('cap_waiting');
        case 'sending': return t('cap_sending', bytes(j.sent), bytes(j.total));
        case 'storing': return t('cap_storing');
        case 'done': return t('cap_stored', this.label(j.result && j.result.category),
                              j.result && j.result.position);
        case 'cancelled': return t('cap_cancelled');
        default: return t('cap_failed', j.error ? j.error.message : '');
        }
    }

    jobElements(j) {
        const bar = h('progress', {max: String(j.total || 1), 'aria-label': j.file.name});
        const text = h('span', {class: 'cap-job-state', 'data-testid': 'upload-state'});
        const active = j.state === 'waiting' || j.state === 'sending' || j.state === 'storing';
        const li = h('li', {class: 'cap-job', 'data-state': j.state, 'data-testid': 'upload'},
                     h('span', {class: 'name'}, j.file.name), bar, text,
                     j.error && j.error.requestId
                         ? h('span', {class: 'request-id'}, t('request_id'),
                             h('code', null, j.error.requestId)) : null,
                     active ? h('button', {type: 'button', class: 'link',
                                           'data-testid': 'upload-cancel',
                                           onclick: () => this.queue.cancel(j)}, t('cap_cancel'))
                            : null,
                     j.state === 'failed' || j.state === 'cancelled'
                         ? h('button', {type: 'button', class: 'link',
                                        'data-testid': 'upload-retry',
                                        onclick: () => this.queue.retry(j)}, t('cap_retry'))
                         : null);
        return {li, bar, text};
    }

    // ---- files in ----

    pick(kind) {
        this.pickFor = kind;
        this.picker.multiple = kind !== 'replaceCover';
        this.picker.value = '';
        this.picker.click();
    }

    // Queues @files (after a note naming those whose type the archive does not know:
    // they are stored as they are, format "bin").
    enqueue(files, how) {
        const odd = files.filter((f) => !KNOWN.test(f.name)).map((f) => f.name);
        this.queue.add(files, how);
        this.say(odd.length ? t('cap_unknown_type', odd.join(', ')) : '');
    }

    picked() {
        const files = Array.from(this.picker.files || []);
        const kind = this.pickFor;
        this.picker.value = '';
        if (!files.length) {
            return;
        }
        const sel = this.selected();
        if (kind === 'replace' || kind === 'replaceCover') {
            if (files.length !== sel.length) {
                this.say(t('cap_replace_count', sel.length, files.length), true);
                return;
            }
            this.enqueue(files, {replace: sel.map((f) => f.file_id)});
        } else if (kind === 'insert') {
            this.enqueue(files, {after: lastFileOf({file: sel[0], parts: []}, this.files())});
        } else {
            this.enqueue(files);
        }
    }

    pageDragOver(ev) {
        if (ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes('Files')) {
            ev.preventDefault();
            ev.dataTransfer.dropEffect = this.can().import ? 'copy' : 'none';
        }
    }

    pageDrop(ev) {
        const files = ev.dataTransfer ? Array.from(ev.dataTransfer.files || []) : [];
        if (!files.length) {
            return;
        }
        ev.preventDefault();
        if (!this.can().import) {
            this.say(t('cap_no_import'), true);
            return;
        }
        this.enqueue(files);
    }

    // ---- edits ----

    say(text, bad) {
        fill(this.msg, text ? h('p', {class: bad ? 'error' : 'notice', role: bad ? 'alert' : null},
                                text) : null);
    }

    // Runs one write, shows its refusal with the node's message, then re-reads the bill.
    async write(fn, okText) {
        this.busy = true;
        this.renderTools();
        this.say('');
        let ok = false;
        try {
            await fn();
            ok = true;
        } catch (e) {
            fill(this.msg, errorBox(e));
        }
        this.busy = false;
        await this.reload();
        if (ok && okText) {
            this.say(okText);
        }
        return ok;
    }

    ids() {
        return this.selected().map((f) => f.file_id);
    }

    categorize(category) {
        const ids = this.ids();
        return this.write(() => api.post(['bills', this.no, 'categorize'],
                                         {file_ids: ids, category}),
                          t('cap_done_category', ids.length, this.label(category)));
    }

    async categorizeOther() {
        const choices = this.categories.map((x) => ({value: x.code,
                                                     label: `${x.name || x.code} (${x.code})`}));
        const c = await ask(t('cap_pick_category', this.sel.size), t('cap_set'), choices);
        if (c) {
            await this.categorize(c);
        }
    }

    merge() {
        const ids = this.ids();
        return this.write(() => api.post(['bills', this.no, 'merge'], {file_ids: ids}),
                          t('cap_done_merge', ids.length));
    }

    split() {
        const [id] = this.ids();
        return this.write(() => api.post(['bills', this.no, 'files', id, 'split'], {}),
                          t('cap_done_split'));
    }

    rotate(degrees) {
        const ids = this.ids();
        return this.write(() => api.post(['bills', this.no, 'rotate'], {file_ids: ids, degrees}));
    }

    async remove() {
        const sel = this.selected();
        if (!sel.length) {
            return;
        }
        const ok = await ask(t('cap_confirm_delete', sel.length, sel.map((f) => f.name)
            .slice(0, 5).join(', ') + (sel.length > 5 ? ', …' : '')), t('cap_delete'));
        if (!ok) {
            return;
        }
        const ids = sel.map((f) => f.file_id);
        await this.write(() => api.post(['bills', this.no, 'delete'], {file_ids: ids}),
                         t('cap_done_delete', ids.length));
    }

    // A drop of file @id after @after (null: first): the node refuses a landing in
    // another category's section with 409 naming the category; the user confirms it.
    async moveFile(id, after) {
        if (!id || id === after || !this.can().move) {
            return;
        }
        const body = {after: after || null};
        this.busy = true;
        this.renderTools();
        this.say('');
        try {
            await api.post(['bills', this.no, 'files', id, 'move'], body);
        } catch (e) {
            const cat = e.status === 409 ? confirmCategory(e.message) : null;
            if (!cat) {
                fill(this.msg, errorBox(e));
            } else if (await ask(t('cap_confirm_move', this.file(id)?.name || id, this.label(cat)),
                                 t('cap_change'))) {
                try {
                    await api.post(['bills', this.no, 'files', id, 'move'],
                                   {...body, category: cat});
                    this.say(t('cap_done_category', 1, this.label(cat)));
                } catch (e2) {
                    fill(this.msg, errorBox(e2));
                }
            }
        }
        this.busy = false;
        await this.reload();
    }

    // A drop into a section with no files: a change of category (asked first).
    async dropIntoEmpty(id, category) {
        const f = this.file(id);
        if (!f || f.category === category || !this.can().move) {
            return;
        }
        if (await ask(t('cap_confirm_move', f.name, this.label(category)), t('cap_change'))) {
            await this.write(() => api.post(['bills', this.no, 'categorize'],
                                            {file_ids: [id], category}),
                             t('cap_done_category', 1, this.label(category)));
        }
    }
}

// The id of the last file of an item (a merged document's last part), the file a
// drop "after the item" goes after.
function lastFileOf(it, files) {
    if (it.parts && it.parts.length) {
        return it.parts.at(-1).file_id;
    }
    const parts = it.file.parts || [];
    if (files && parts.length) {
        return parts.at(-1);
    }
    return it.file.file_id;
}

function dl(pairs, testid) {
    const list = pairs.filter((p) => p && p[1] !== undefined && p[1] !== null && p[1] !== '');
    return h('dl', {class: 'fields', 'data-testid': testid},
             list.map(([k, v]) => [h('dt', null, k), h('dd', null, String(v))]));
}
