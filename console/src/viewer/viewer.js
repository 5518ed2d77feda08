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

export function createViewer(host) {
    const zoomLabel = h('span', {class: 'zoom', 'data-testid': 'zoom'}, '');
    const pageLabel = h('span', {class: 'page-count', 'data-testid': 'page-count'}, '');
    const btn = (label, title, testid, fn) =>
        h('button', {type: 'button', class: 'tool', title, 'aria-label': title,
                     'data-testid': testid, onclick: fn}, label);
    const extra = h('span', {class: 'tool-extra'});
    const toolbar = h('div', {class: 'toolbar', role: 'toolbar', 'aria-label': t('viewer')},
                      btn('−', t('zoom_out'), 'zoom-out', () => zoom(-1)),
                      zoomLabel,
                      btn('+', t('zoom_in'), 'zoom-in', () => zoom(1)),
                      btn(t('fit_width'), t('fit_width_title'), 'fit-width', () => setScale('fit')),
                      btn('1:1', t('actual_size_title'), 'actual-size', () => setScale(1)),
                      btn(t('full_screen'), t('full_screen_title'), 'full-screen', fullScreen),
                      pageLabel, extra);
    const title = h('div', {class: 'viewer-title', 'data-testid': 'viewer-title'});
    const scroller = h('div', {class: 'pages', tabindex: '0', 'data-testid': 'pages'});
    const root = h('div', {class: 'viewer', 'data-testid': 'viewer', onkeydown: keys},
                   title, toolbar, scroller);
    fill(host, root);

    let pages = [];
    let mode = 'fit'; // 'fit' or a scale (1 = 100%)
    let scale = 1;
    let opened = 0; // a counter: an open() superseded by a later one stops
    const pdfs = [];
    const visible = new Set();
    const io = new IntersectionObserver((entries) => {
        for (const e of entries) {
            const p = e.target.__page;
            if (!p) {
                continue;
            }
            if (e.isIntersecting) {
                visible.add(p);
                p.draw(scale);
            } else {
                visible.delete(p);
                p.release();
            }
        }
    }, {root: scroller, rootMargin: '100% 0px'});
    const ro = new ResizeObserver(() => {
        if (mode === 'fit') {
            relayout();
        }
    });
    ro.observe(scroller);

    function keys(ev) {
        if (ev.target.tagName === 'INPUT' || ev.ctrlKey || ev.metaKey || ev.altKey) {
            return;
        }
        const k = ev.key;
        if (k === '+' || k === '=') {
            zoom(1);
        } else if (k === '-') {
            zoom(-1);
        } else if (k === '0') {
            setScale(1);
        } else if (k === 'w' || k === 'W') {
            setScale('fit');
        } else if (k === 'f' || k === 'F') {
            fullScreen();
        } else {
            return;
        }
        ev.preventDefault();
    }

    function zoom(dir) {
        setScale(zoomStep(scale, dir));
    }

    function setScale(s) {
        mode = s;
        relayout();
    }

    function fullScreen() {
        if (document.fullscreenElement) {
            document.exitFullscreen();
        } else if (root.requestFullscreen) {
            root.requestFullscreen().catch(() => {});
        }
    }

    function fitScale() {
        const avail = scroller.clientWidth - 32;
        let widest = 0;
        for (const p of pages) {
            const s = p.baseSize();
            if (s && p.scales) {
                widest = Math.max(widest, s.width);
            }
        }
        return widest > 0 && avail > 0 ? Math.min(8, Math.max(0.1, avail / widest)) : 1;
    }

    function relayout() {
        scale = mode === 'fit' ? fitScale() : mode;
        fill(zoomLabel, `${Math.round(scale * 100)}%`);
        for (const p of pages) {
            p.layout(scale);
        }
        for (const p of visible) {
            p.draw(scale);
        }
    }

    function close() {
        opened++;
        for (const p of pages) {
            io.unobserve(p.el);
            p.release();
        }
        pages = [];
        visible.clear();
        for (const d of pdfs.splice(0)) {
            d.close();
        }
        scroller.replaceChildren();
    }

    // Opens the document again with new signed links (they expire after --link-ttl-s),
    // at the same place in the scroll.
    function againButton() {
        const files = current;
        const top = scroller.scrollTop;
        return h('button', {type: 'button', class: 'secondary', 'data-testid': 'open-again',
                            onclick: async () => {
                                await open(files.files, files.name);
                                scroller.scrollTop = top;
                            }}, t('open_again'));
    }

    let current = null;

    // @files: the document's files, first the document, then its parts in order.
    async function open(files, name) {
        close();
        current = {files, name};
        const me = opened;
        mode = 'fit';
        const total = files.reduce((n, f) => n + Math.max(1, Number(f.pages) || 1), 0);
        fill(title, name || files[0].name);
        fill(pageLabel, files.length > 1 ? t('merged_count', total, files.length)
                                         : t('page_count', total));
        fill(extra);
        scroller.setAttribute('aria-busy', 'true');
        try {
            let first = true;
            for (const f of files) {
                const path = await signedLink(f.file_id);
                if (me !== opened) {
                    return;
                }
                if (first) {
                    first = false;
                    const kind = viewerKind(f.format);
                    fill(extra,
                         kind !== 'card'
                             ? fileLink(path, {}, {class: 'tool', 'data-testid': 'open-tab'},
                                        t('open_tab'))
                             : null,
                         fileLink(path, {download: true},
                                  {class: 'tool', 'data-testid': 'download'}, t('download')));
                }
                const made = await pagesOf(f, path, () => me === opened);
                if (me !== opened) {
                    return;
                }
                for (const p of made) {
                    p.el.setAttribute('data-page', String(pages.length + 1));
                    p.el.__page = p;
                    pages.push(p);
                    scroller.appendChild(p.el);
                    io.observe(p.el);
                }
                relayout();
            }
            fill(pageLabel, files.length > 1 ? t('merged_count', pages.length, files.length)
                                             : t('page_count', pages.length));
        } catch (e) {
            if (me === opened) {
                scroller.appendChild(h('div', {class: 'error-box', role: 'alert',
                                               'data-testid': 'viewer-error'},
                                       h('p', null, t('cannot_show', e.message)),
                                       e.requestId ? h('p', {class: 'request-id'}, t('request_id'),
                                                       h('code', null, e.requestId)) : null,
                                       againButton()));
            }
        } finally {
            if (me === opened) {
                scroller.setAttribute('aria-busy', 'false');
            }
        }
    }

    async function pagesOf(f, path, current) {
        switch (viewerKind(f.format)) {
        case 'image':
            return [imagePage(f, path, () => {
                if (current() && mode === 'fit') {
                    relayout();
                } else if (current()) {
                    for (const p of pages) {
                        p.layout(scale);
                    }
                }
            })];
        case 'pdf': {
            const {openPdf} = await import('./pdfdoc.js');
            const doc = await openPdf(path);
            if (!current()) {
                doc.close();
                return [];
            }
            pdfs.push(doc);
            const out = [];
            for (let n = 1; n <= doc.pages; n++) {
                out.push(await pdfPage(doc, n, f, againButton));
            }
            return out;
        }
        case 'text':
            return [await textPage(f, path)];
        case 'tiff': {
            if (f.size > TIFF_MAX) {
                return [cardPage(f, path)];
            }
            const res = await fetch(path, {credentials: 'omit'});
            if (!res.ok) {
                throw new Error(`HTTP ${res.status} for the file's content`);
            }
            const buf = await res.arrayBuffer();
            const {openTiff} = await import('./tiff.js');
            return (await openTiff(buf)).map((p) => tiffPage(f, p));
        }
        default:
            return [cardPage(f, path)];
        }
    }

    return {open, close, root};
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
