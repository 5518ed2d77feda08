// The one adapter around pdf.js (no other file imports pdfjs-dist): loaded on the first
// PDF only (a dynamic import esbuild splits into its own chunk), its worker and data
// (cMaps for Chinese PDFs whose fonts are not embedded, standard fonts, wasm decoders)
// from the versioned base the page names in body[data-pdfjs-base] (build.mjs).
// isEvalSupported:false keeps the CSP free of 'unsafe-eval'; no annotations, forms or
// XFA are drawn, so pdf.js builds no HTML either.

let lib = null;

function base() {
    const b = document.body.dataset.pdfjsBase || '';
    if (!b.startsWith('/assets/')) {
        throw new Error('the page names no pdf.js base (body[data-pdfjs-base])');
    }
    return b;
}

async function load() {
    if (lib === null) {
        lib = import('pdfjs-dist').then((m) => {
            m.GlobalWorkerOptions.workerSrc = base() + 'pdf.worker.min.mjs';
            return m;
        });
    }
    return lib;
}

// Opens the PDF at @url (a signed link path). Answers {pages, page(n), close()}; page(n)
// answers {size(scale, rotation) -> {width, height} in CSS pixels, render(canvas, scale,
// rotation) -> a promise, cancel()}. @rotation is the file's saved rotation, added to
// each page's own.
export async function openPdf(url) {
    // A link that answers an error is found out here, not by pdf.js: its network
    // stream leaves a rejected promise nobody awaits (a ResponseException reported as
    // an uncaught page error) when the first request fails, whatever the viewer does.
    const probe = await fetch(url, {method: 'HEAD', credentials: 'omit'});
    if (!probe.ok) {
        throw new Error(`HTTP ${probe.status} for the file's content`);
    }
    const pdfjs = await load();
    const b = base();
    const task = pdfjs.getDocument({
        url,
        rangeChunkSize: 262144,
        disableAutoFetch: true,
        isEvalSupported: false,
        enableXfa: false,
        cMapUrl: b + 'cmaps/',
        cMapPacked: true,
        standardFontDataUrl: b + 'standard_fonts/',
        wasmUrl: b + 'wasm/',
        withCredentials: false,
    });
    const doc = await task.promise;
    const cache = new Map();
    return {
        pages: doc.numPages,
        async page(n) {
            if (!cache.has(n)) {
                cache.set(n, doc.getPage(n));
            }
            const p = await cache.get(n);
            let running = null;
            // 100% is the page's printed size: 72 PDF points an inch, 96 CSS pixels.
            const viewport = (scale, rotation) =>
                p.getViewport({scale: scale * 96 / 72,
                               rotation: ((p.rotate + rotation) % 360 + 360) % 360});
            return {
                size(scale, rotation) {
                    const v = viewport(scale, rotation);
                    return {width: v.width, height: v.height};
                },
                async render(canvas, scale, rotation) {
                    if (running) {
                        running.cancel();
                    }
                    const v = viewport(scale, rotation);
                    const dpr = Math.min(window.devicePixelRatio || 1, 2);
                    canvas.width = Math.max(1, Math.floor(v.width * dpr));
                    canvas.height = Math.max(1, Math.floor(v.height * dpr));
                    canvas.style.width = `${Math.floor(v.width)}px`;
                    canvas.style.height = `${Math.floor(v.height)}px`;
                    const task = p.render({
                        canvas,
                        viewport: v,
                        transform: dpr !== 1 ? [dpr, 0, 0, dpr, 0, 0] : undefined,
                        annotationMode: pdfjs.AnnotationMode.DISABLE,
                    });
                    running = task;
                    try {
                        await task.promise;
                    } catch (e) {
                        if (e && e.name === 'RenderingCancelledException') {
                            return false;
                        }
                        throw e;
                    } finally {
                        if (running === task) {
                            running = null;
                        }
                    }
                    return true;
                },
                cancel() {
                    if (running) {
                        running.cancel();
                    }
                },
            };
        },
        close() {
            doc.destroy();
        },
    };
}
