// Viewer v0 (console-design.md section 3): one document in one scroll. A document is a
// file, or a merged document (its first file, then its parts in order, each with its
// own saved rotation), its pages numbered 1..N across the files. Files open through
// signed links (POST /api/v1/files/{id}/link): JPEG and PNG in <img>, PDF drawn by
// pdf.js (loaded on the first PDF; only pages near the screen are drawn), text as text,
// TIFF decoded by utif2 onto canvases (loaded on the first TIFF), anything else (OFD,
// Office, XML) a card with a Download button.
// Controls: zoom -/+ (25% steps, 10-800%), fit width, 1:1, full screen, and the keys
// + - 0 (1:1) W (fit width) F (full screen).
import * as api from '../api.js';
import {fileLink, fill, h} from '../dom.js';
import {bytes, localTime, pageRotation, viewerKind, zoomStep} from '../format.js';
import {t} from '../i18n.js';

const TEXT_MAX = 1 << 20;
// TIFF files are fetched whole to be decoded: larger ones get the card (download).
const TIFF_MAX = 64 << 20;

export async function signedLink(fileId) {
    const r = await api.post(['files', fileId, 'link'], {});
    const path = api.linkPath(r && r.url, location.origin);
    if (path === null) {
        throw new Error('the node answered a link that is not one of its own');
    }
    return path;
}

const pagesLabel = (n, files) => (files > 1 ? t('merged_count', n, files) : t('page_count', n));

export function createViewer(host) {
    return new Viewer(host);
}

// One viewer in @host. open(files, name) shows a document; a later open() supersedes
// one still loading (`opened` counts them).
class Viewer {
    constructor(host) {
        const btn = (label, title, testid, fn) =>
            h('button', {type: 'button', class: 'tool', title, 'aria-label': title,
                         'data-testid': testid, onclick: fn}, label);
        this.zoomLabel = h('span', {class: 'zoom', 'data-testid': 'zoom'});
        this.pageLabel = h('span', {class: 'page-count', 'data-testid': 'page-count'});
        this.extra = h('span', {class: 'tool-extra'});
        this.title = h('div', {class: 'viewer-title', 'data-testid': 'viewer-title'});
        this.scroller = h('div', {class: 'pages', tabindex: '0', 'data-testid': 'pages'});
        this.root = h('div', {class: 'viewer', 'data-testid': 'viewer',
                              onkeydown: (ev) => this.keys(ev)},
                      this.title,
                      h('div', {class: 'toolbar', role: 'toolbar', 'aria-label': t('viewer')},
                        btn('−', t('zoom_out'), 'zoom-out', () => this.zoom(-1)),
                        this.zoomLabel,
                        btn('+', t('zoom_in'), 'zoom-in', () => this.zoom(1)),
                        btn(t('fit_width'), t('fit_width_title'), 'fit-width',
                            () => this.setScale('fit')),
                        btn('1:1', t('actual_size_title'), 'actual-size', () => this.setScale(1)),
                        btn(t('full_screen'), t('full_screen_title'), 'full-screen',
                            () => this.fullScreen()),
                        this.pageLabel, this.extra),
                      this.scroller);
        fill(host, this.root);
        this.pages = [];
        this.mode = 'fit'; // 'fit' or a scale (1 = 100%)
        this.scale = 1;
        this.opened = 0;
        this.current = null; // {files, name} of the document shown
        this.pdfs = [];
        this.visible = new Set();
        // Pages within a screen of the visible area are drawn; others give their pixels back.
        this.io = new IntersectionObserver((entries) => this.seen(entries),
                                           {root: this.scroller, rootMargin: '100% 0px'});
        new ResizeObserver(() => {
            if (this.mode === 'fit') {
                this.relayout();
            }
        }).observe(this.scroller);
    }

    seen(entries) {
        for (const e of entries) {
            const p = e.target.__page;
            if (!p) {
                continue;
            }
            if (e.isIntersecting) {
                this.visible.add(p);
                p.draw(this.scale);
            } else {
                this.visible.delete(p);
                p.release();
            }
        }
    }

    keys(ev) {
        if (ev.target.tagName === 'INPUT' || ev.ctrlKey || ev.metaKey || ev.altKey) {
            return;
        }
        const actions = {
            '+': () => this.zoom(1), '=': () => this.zoom(1), '-': () => this.zoom(-1),
            0: () => this.setScale(1), w: () => this.setScale('fit'),
            W: () => this.setScale('fit'), f: () => this.fullScreen(), F: () => this.fullScreen(),
        };
        if (Object.hasOwn(actions, ev.key)) {
            actions[ev.key]();
            ev.preventDefault();
        }
    }

    zoom(dir) {
        this.setScale(zoomStep(this.scale, dir));
    }

    setScale(s) {
        this.mode = s;
        this.relayout();
    }

    fullScreen() {
        if (document.fullscreenElement) {
            document.exitFullscreen();
        } else if (this.root.requestFullscreen) {
            this.root.requestFullscreen().catch(() => {});
        }
    }

    // The scale at which the widest page fills the viewer's width.
    fitScale() {
        const avail = this.scroller.clientWidth - 32;
        let widest = 0;
        for (const p of this.pages) {
            const s = p.baseSize();
            if (s && p.scales) {
                widest = Math.max(widest, s.width);
            }
        }
        return widest > 0 && avail > 0 ? Math.min(8, Math.max(0.1, avail / widest)) : 1;
    }

    relayout() {
        this.scale = this.mode === 'fit' ? this.fitScale() : this.mode;
        fill(this.zoomLabel, `${Math.round(this.scale * 100)}%`);
        for (const p of this.pages) {
            p.layout(this.scale);
        }
        for (const p of this.visible) {
            p.draw(this.scale);
        }
    }

    close() {
        this.opened++;
        for (const p of this.pages) {
            this.io.unobserve(p.el);
            p.release();
        }
        this.pages = [];
        this.visible.clear();
        for (const d of this.pdfs.splice(0)) {
            d.close();
        }
        this.scroller.replaceChildren();
    }

    // Opens the document again with new signed links (they expire after --link-ttl-s),
    // at the same place in the scroll.
    againButton() {
        const doc = this.current;
        const top = this.scroller.scrollTop;
        return h('button', {type: 'button', class: 'secondary', 'data-testid': 'open-again',
                            onclick: async () => {
                                await this.open(doc.files, doc.name);
                                this.scroller.scrollTop = top;
                            }}, t('open_again'));
    }

    // @files: the document's files, first the document, then its parts in order.
    async open(files, name) {
        this.close();
        this.current = {files, name};
        const me = this.opened;
        const live = () => me === this.opened;
        this.mode = 'fit';
        const total = files.reduce((n, f) => n + Math.max(1, Number(f.pages) || 1), 0);
        fill(this.title, name || files[0].name);
        fill(this.pageLabel, pagesLabel(total, files.length));
        fill(this.extra);
        this.scroller.setAttribute('aria-busy', 'true');
        try {
            for (const f of files) {
                // A file may come with its link (an event code's page, views/event.js).
                const path = f.url ? api.linkPath(f.url, location.origin)
                    : await signedLink(f.file_id);
                if (path === null) {
                    throw new Error('the node answered a link that is not one of its own');
                }
                if (!live()) {
                    return;
                }
                if (f === files[0]) {
                    this.fileLinks(f, path);
                }
                const made = await this.pagesOf(f, path, live);
                if (!live()) {
                    return;
                }
                this.add(made);
            }
            fill(this.pageLabel, pagesLabel(this.pages.length, files.length));
        } catch (e) {
            if (live()) {
                this.scroller.appendChild(
                    h('div', {class: 'error-box', role: 'alert', 'data-testid': 'viewer-error'},
                      h('p', null, t('cannot_show', e.message)),
                      e.requestId ? h('p', {class: 'request-id'}, t('request_id'),
                                      h('code', null, e.requestId)) : null,
                      this.againButton()));
            }
        } finally {
            if (live()) {
                this.scroller.setAttribute('aria-busy', 'false');
            }
        }
    }

    // "Open in new tab" (formats a browser shows) and "Download", for the first file.
    fileLinks(f, path) {
        fill(this.extra,
             viewerKind(f.format) !== 'card'
                 ? fileLink(path, {}, {class: 'tool', 'data-testid': 'open-tab'}, t('open_tab'))
                 : null,
             fileLink(path, {download: true}, {class: 'tool', 'data-testid': 'download'},
                      t('download')));
    }

    add(made) {
        for (const p of made) {
            p.el.setAttribute('data-page', String(this.pages.length + 1));
            p.el.__page = p;
            this.pages.push(p);
            this.scroller.appendChild(p.el);
            this.io.observe(p.el);
        }
        this.relayout();
    }

    async pagesOf(f, path, live) {
        switch (viewerKind(f.format)) {
        case 'image':
            return [imagePage(f, path, () => {
                if (live()) {
                    this.relayout();
                }
            })];
        case 'pdf': {
            const {openPdf} = await import('./pdfdoc.js');
            const doc = await openPdf(path);
            if (!live()) {
                doc.close();
                return [];
            }
            this.pdfs.push(doc);
            const out = [];
            for (let n = 1; n <= doc.pages; n++) {
                out.push(await pdfPage(doc, n, f, () => this.againButton()));
            }
            return out;
        }
        case 'text':
            return [await textPage(f, path)];
        case 'tiff':
            return f.size > TIFF_MAX ? [cardPage(f, path)] : tiffPages(f, path);
        default:
            return [cardPage(f, path)];
        }
    }
}

async function tiffPages(f, path) {
    const res = await fetch(path, {credentials: 'omit'});
    if (!res.ok) {
        throw new Error(`HTTP ${res.status} for the file's content`);
    }
    const buf = await res.arrayBuffer();
    const {openTiff} = await import('./tiff.js');
    return (await openTiff(buf)).map((p) => tiffPage(f, p));
}

// An image: the natural size is known once it loads; the saved rotation turns it
// inside a box whose width and height are swapped for 90 and 270 degrees.
function imagePage(f, path, loaded) {
    const rot = pageRotation(0, f.rotation);
    const img = h('img', {alt: f.name, decoding: 'async', 'data-testid': 'page-image'});
    const el = h('div', {class: 'page page-image', 'data-file-id': f.file_id}, img);
    let size = null;
    img.addEventListener('load', () => {
        size = {w: img.naturalWidth, h: img.naturalHeight};
        loaded();
    });
    img.addEventListener('error', () => {
        el.replaceChildren(h('p', {class: 'error'}, t('image_undecodable', f.name)));
    });
    img.setAttribute('src', path);
    const turned = rot === 90 || rot === 270;
    return {
        el,
        scales: true,
        baseSize: () => size && (turned ? {width: size.h, height: size.w}
                                        : {width: size.w, height: size.h}),
        layout(scale) {
            if (!size) {
                return;
            }
            const w = Math.round(size.w * scale);
            const hh = Math.round(size.h * scale);
            el.style.width = `${turned ? hh : w}px`;
            el.style.height = `${turned ? w : hh}px`;
            img.style.width = `${w}px`;
            img.style.height = `${hh}px`;
            img.style.transform = `translate(-50%, -50%) rotate(${rot}deg)`;
        },
        draw() {},
        release() {},
    };
}

// A TIFF page: a canvas at the page's pixel size, turned like an image.
function tiffPage(f, tp) {
    const rot = pageRotation(0, f.rotation);
    const turned = rot === 90 || rot === 270;
    const canvas = h('canvas', {'data-testid': 'page-tiff'});
    const el = h('div', {class: 'page page-image page-tiff', 'data-file-id': f.file_id}, canvas);
    let drawn = false;
    return {
        el,
        scales: true,
        baseSize: () => (turned ? {width: tp.height, height: tp.width}
                                : {width: tp.width, height: tp.height}),
        layout(scale) {
            const w = Math.round(tp.width * scale);
            const hh = Math.round(tp.height * scale);
            el.style.width = `${turned ? hh : w}px`;
            el.style.height = `${turned ? w : hh}px`;
            canvas.style.width = `${w}px`;
            canvas.style.height = `${hh}px`;
            canvas.style.transform = `translate(-50%, -50%) rotate(${rot}deg)`;
        },
        draw() {
            if (drawn) {
                return;
            }
            drawn = true;
            try {
                tp.draw(canvas);
                el.setAttribute('data-state', 'drawn');
            } catch (e) {
                el.replaceChildren(h('p', {class: 'error'}, t('tiff_undecodable', e.message)));
            }
        },
        release() {},
    };
}

// A PDF page: a placeholder of the page's size; drawn on a canvas while near the screen.
async function pdfPage(doc, n, f, againButton) {
    const page = await doc.page(n);
    const canvas = h('canvas', {'data-testid': 'page-canvas'});
    const el = h('div', {class: 'page page-pdf', 'data-file-id': f.file_id}, canvas);
    const rot = Number(f.rotation) || 0;
    let drawnAt = 0;
    return {
        el,
        scales: true,
        baseSize: () => page.size(1, rot),
        layout(scale) {
            const s = page.size(scale, rot);
            el.style.width = `${Math.floor(s.width)}px`;
            el.style.height = `${Math.floor(s.height)}px`;
            canvas.style.width = `${Math.floor(s.width)}px`;
            canvas.style.height = `${Math.floor(s.height)}px`;
        },
        draw(scale) {
            if (drawnAt === scale) {
                return;
            }
            drawnAt = scale;
            page.render(canvas, scale, rot).then((done) => {
                if (done) {
                    el.setAttribute('data-state', 'drawn');
                }
            }, (e) => {
                drawnAt = 0;
                el.replaceChildren(h('div', {class: 'page-error'},
                                     h('p', {class: 'error'}, t('page_failed', n, e.message)),
                                     againButton()));
            });
        },
        release() {
            page.cancel();
            if (drawnAt !== 0) {
                // A page far from the screen gives its pixels back.
                canvas.width = 1;
                canvas.height = 1;
                drawnAt = 0;
                el.removeAttribute('data-state');
            }
        },
    };
}

async function textPage(f, path) {
    const res = await fetch(path, {headers: {Range: `bytes=0-${TEXT_MAX - 1}`},
                                   credentials: 'omit'});
    if (!res.ok) {
        throw new Error(`HTTP ${res.status} for the file's content`);
    }
    const text = await res.text();
    const pre = h('pre', {class: 'text'}, text);
    return {
        el: h('div', {class: 'page page-text'}, pre,
              f.size > TEXT_MAX ? h('p', {class: 'note'}, t('text_cut', bytes(TEXT_MAX))) : null),
        scales: false,
        baseSize: () => null,
        layout(scale) {
            pre.style.fontSize = `${Math.round(13 * scale)}px`;
        },
        draw() {},
        release() {},
    };
}

const FORMAT_NAMES = {
    ofd: 'OFD document', xml: 'XML', tiff: 'TIFF image', doc: 'Word document',
    docx: 'Word document', xls: 'Excel workbook', xlsx: 'Excel workbook',
    ppt: 'PowerPoint presentation', pptx: 'PowerPoint presentation', bin: 'file',
};

// A file the console does not draw: its metadata and a Download button.
function cardPage(f, path) {
    const inv = f.invoice && typeof f.invoice === 'object' ? f.invoice : null;
    const row = (k, v) => (v === undefined || v === null || v === '' ? null
        : h('tr', null, h('th', {scope: 'row'}, k), h('td', null, String(v))));
    const el = h('div', {class: 'page page-card', 'data-testid': 'file-card',
                         'data-format': f.format},
                 h('h3', null, f.name),
                 h('p', {class: 'note'}, t('card_note', FORMAT_NAMES[f.format] || f.format,
                                           f.format.toUpperCase())),
                 h('table', {class: 'meta'}, h('tbody', null,
                   row(t('format'), f.format), row(t('size'), bytes(f.size)),
                   row(t('pages'), f.pages), row(t('category'), f.category),
                   row(t('captured_by'), f.captured_by),
                   row(t('captured_at'), localTime(f.captured_at)),
                   inv ? [row(t('inv_number'), inv.number), row(t('inv_code'), inv.code),
                          row(t('inv_date'), inv.date), row(t('amount'), inv.amount),
                          row(t('inv_tax'), inv.tax), row(t('inv_total'), inv.total)] : null)),
                 fileLink(path, {download: true}, {class: 'button', 'data-testid': 'card-download'},
                          t('download')));
    return {el, scales: false, baseSize: () => null, layout() {}, draw() {}, release() {}};
}
