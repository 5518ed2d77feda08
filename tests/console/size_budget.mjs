// node size_budget.mjs DIST KB: fails when the console's first load is over KB
// kilobytes gzipped (console-design.md section 2, "Budget"). The first load is
// index.html, the style sheets it links and the scripts it loads, with every chunk
// those import statically (esbuild's `import ... from "./chunk-X.js"`), but not the
// chunks loaded by import() on demand (pdf.js).
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {gzipSync} from 'node:zlib';

const [dist, kb] = process.argv.slice(2);
if (!dist || !kb) {
    console.error('usage: node size_budget.mjs DIST KB');
    process.exit(2);
}
const manifest = JSON.parse(readFileSync(join(dist, 'manifest.json'), 'utf8'));
const byPath = new Map(manifest.files.map((f) => [f.path, f]));
const read = (path) => {
    const f = byPath.get(path);
    if (!f) {
        throw new Error(`${path} is not in ${dist}/manifest.json`);
    }
    return readFileSync(join(dist, f.file));
};
const html = read('/').toString('utf8');
const first = new Set(['/']);
const queue = [];
for (const m of html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)) {
    first.add(m[1]);
    if (m[1].endsWith('.js')) {
        queue.push(m[1]);
    }
}
while (queue.length) {
    const p = queue.pop();
    const code = read(p).toString('utf8');
    // Static imports only: `import{a as b}from"./chunk-X.js"` or `import"./chunk-X.js"`.
    const statics = /(?:^|[;}\s])import\s*(?:[^"'()]*?from\s*)?["'](\.\/[^"']+)["']/g;
    for (const m of code.matchAll(statics)) {
        const dep = new URL(m[1], 'http://x' + p).pathname;
        if (!first.has(dep)) {
            first.add(dep);
            queue.push(dep);
        }
    }
}
let total = 0;
for (const p of first) {
    const n = gzipSync(read(p), {level: 9}).length;
    total += n;
    console.log(`${String(n).padStart(8)} B gz  ${p}`);
}
const lazy = manifest.files.filter((f) => f.path.endsWith('.js') && !first.has(f.path) &&
                                          !f.path.includes('/pdfjs-'));
for (const f of lazy) {
    const n = gzipSync(read(f.path), {level: 9}).length;
    console.log(`${String(n).padStart(8)} B gz  ${f.path} (on demand)`);
}
console.log(`first load: ${(total / 1024).toFixed(1)} KB gzipped (budget ${kb} KB)`);
if (total > Number(kb) * 1024) {
    console.error(`size_budget: the console's first load is ${total} bytes gzipped, over ${kb} KB`);
    process.exit(1);
}
