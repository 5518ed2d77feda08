// Builds the console (src/) into a directory of static files and a manifest.
//
//   node build.mjs --out DIR
//
// DIR gets index.html, assets/<name>-<hash>.<ext> (bundled, minified, content-hashed:
// served with immutable caching), the pdf.js worker and the data pdf.js fetches on
// demand (assets/pdfjs/{cmaps,standard_fonts,wasm}/), and manifest.json:
//
//   {"files": [{"path": "/", "file": "index.html", "type": "text/html; charset=utf-8",
//               "immutable": false}, ...]}
//
// "path" is the URL path the node serves the file at, "file" its place under DIR.
// embed.mjs turns the manifest into the C table compiled into imgarcd
// (api/console_assets.h). Only esbuild (pinned in package-lock.json) is used.
import {createHash} from 'node:crypto';
import {copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync,
        writeFileSync} from 'node:fs';
import {dirname, extname, join, relative} from 'node:path';
import {fileURLToPath} from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const TYPES = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.mjs': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.svg': 'image/svg+xml',
    '.png': 'image/png',
    '.ico': 'image/x-icon',
    '.bcmap': 'application/octet-stream',
    '.pfb': 'application/octet-stream',
    '.ttf': 'font/ttf',
    '.wasm': 'application/wasm',
    '.json': 'application/json',
};

function usage(msg) {
    process.stderr.write(`build.mjs: ${msg}\nusage: node build.mjs --out DIR\n`);
    process.exit(2);
}

function typeOf(file) {
    const t = TYPES[extname(file)];
    if (t === undefined) {
        throw new Error(`no content type for ${file}: add its extension to TYPES`);
    }
    return t;
}

function walk(dir) {
    const out = [];
    for (const name of readdirSync(dir).sort()) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) {
            out.push(...walk(p));
        } else {
            out.push(p);
        }
    }
    return out;
}

const args = process.argv.slice(2);
const at = args.indexOf('--out');
if (at < 0 || args[at + 1] === undefined) {
    usage('--out DIR is required');
}
const out = args[at + 1];
rmSync(out, {recursive: true, force: true});
mkdirSync(join(out, 'assets'), {recursive: true});

const files = [];
const add = (file, path, immutable) =>
    files.push({path, file: relative(out, file), type: typeOf(file), immutable});

// The application: one entry, split so pdf.js and the TIFF decoder load on first use.
const result = await esbuild.build({
    absWorkingDir: here,
    entryPoints: {app: 'src/main.js', style: 'src/style.css'},
    bundle: true,
    splitting: true,
    format: 'esm',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    target: ['es2022', 'chrome115', 'firefox115'],
    outdir: join(out, 'assets'),
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
});
const entries = {};
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
    const abs = join(here, file);
    add(abs, '/' + relative(out, abs), true);
    if (meta.entryPoint !== undefined) {
        entries[meta.entryPoint] = '/' + relative(out, abs);
    }
}

// pdf.js's worker and the data it fetches by URL, under names that carry the version.
const pdfjs = join(here, 'node_modules', 'pdfjs-dist');
const pdfjsVersion = JSON.parse(readFileSync(join(pdfjs, 'package.json'), 'utf8')).version;
const pdfjsDir = join(out, 'assets', `pdfjs-${pdfjsVersion}`);
mkdirSync(pdfjsDir, {recursive: true});
copyFileSync(join(pdfjs, 'build', 'pdf.worker.min.mjs'), join(pdfjsDir, 'pdf.worker.min.mjs'));
add(join(pdfjsDir, 'pdf.worker.min.mjs'), `/assets/pdfjs-${pdfjsVersion}/pdf.worker.min.mjs`, true);
for (const sub of ['cmaps', 'standard_fonts', 'wasm']) {
    for (const src of walk(join(pdfjs, sub))) {
        const ext = extname(src);
        if (!(ext in TYPES) || ext === '.json' || src.endsWith('LICENSE')) {
            continue;
        }
        const dst = join(pdfjsDir, sub, relative(join(pdfjs, sub), src));
        mkdirSync(dirname(dst), {recursive: true});
        copyFileSync(src, dst);
        add(dst, '/' + relative(out, dst), true);
    }
}

// The page: names the hashed entry points, so it is the one file revalidated each load.
const html = readFileSync(join(here, 'src', 'index.html'), 'utf8')
    .replaceAll('%APP_JS%', entries['src/main.js'])
    .replaceAll('%APP_CSS%', entries['src/style.css'])
    .replaceAll('%PDFJS_BASE%', `/assets/pdfjs-${pdfjsVersion}/`);
writeFileSync(join(out, 'index.html'), html);
add(join(out, 'index.html'), '/', false);

const digest = createHash('sha256');
for (const f of files) {
    digest.update(f.path).update(readFileSync(join(out, f.file)));
}
writeFileSync(join(out, 'manifest.json'),
              JSON.stringify({build: digest.digest('hex').slice(0, 16), files}, null, 1) + '\n');
