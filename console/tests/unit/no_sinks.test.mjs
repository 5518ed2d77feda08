// The console's XSS rule (console/README.md, "Rules for the JS"): no HTML sinks and no
// string evaluation anywhere in src/. Comments are stripped first, so a rule may be
// named in prose; everything else, strings included, counts.
import assert from 'node:assert/strict';
import {readdirSync, readFileSync, statSync} from 'node:fs';
import {dirname, join, relative} from 'node:path';
import {test} from 'node:test';
import {fileURLToPath} from 'node:url';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

const FORBIDDEN = [
    [/\binnerHTML\b/, 'innerHTML'],
    [/\bouterHTML\b/, 'outerHTML'],
    [/\binsertAdjacentHTML\b/, 'insertAdjacentHTML'],
    [/\bdocument\s*\.\s*write(ln)?\b/, 'document.write'],
    [/\bdocument\s*\[\s*['"`]write/, 'document.write'],
    [/\beval\s*\(/, 'eval('],
    [/\bnew\s+Function\b/, 'new Function'],
    [/(^|[^.\w$])Function\s*\(/, 'Function('],
    [/\bset(Timeout|Interval)\s*\(\s*['"`]/, 'setTimeout/setInterval with a string'],
    [/\bcreateContextualFragment\b/, 'createContextualFragment'],
    [/\bparseFromString\b/, 'DOMParser.parseFromString'],
    [/\bsrcdoc\b/, 'srcdoc'],
    [/setAttribute\s*\(\s*['"`]on/i, 'an on* attribute'],
    [/javascript:/i, 'a javascript: URL'],
];

function files(dir) {
    return readdirSync(dir).flatMap((n) => {
        const p = join(dir, n);
        return statSync(p).isDirectory() ? files(p) : [p];
    });
}

// Removes // and /* */ comments, leaving strings and template literals as they are.
export function stripComments(code) {
    let out = '';
    for (let i = 0; i < code.length;) {
        const c = code[i];
        if (c === '"' || c === "'" || c === '`') {
            let j = i + 1;
            while (j < code.length && code[j] !== c) {
                j += code[j] === '\\' ? 2 : 1;
            }
            out += code.slice(i, j + 1);
            i = j + 1;
        } else if (c === '/' && code[i + 1] === '/') {
            while (i < code.length && code[i] !== '\n') {
                i++;
            }
        } else if (c === '/' && code[i + 1] === '*') {
            const end = code.indexOf('*/', i + 2);
            i = end < 0 ? code.length : end + 2;
        } else {
            out += c;
            i++;
        }
    }
    return out;
}

export function findSinks(code) {
    const found = [];
    const lines = stripComments(code).split('\n');
    lines.forEach((line, n) => {
        for (const [re, name] of FORBIDDEN) {
            if (re.test(line)) {
                found.push(`${n + 1}: ${name}`);
            }
        }
    });
    return found;
}

test('the lint catches every forbidden construct', () => {
    const bad = [
        'el.innerHTML = x;', 'el.outerHTML = x;', "el.insertAdjacentHTML('beforeend', x);",
        'document.write(x);', 'document["write"](x);', 'eval(x);', 'window.eval(x)',
        'new Function("a", x);', 'Function(x)()', 'setTimeout("go()", 1);',
        'range.createContextualFragment(x)', "new DOMParser().parseFromString(x, 'text/html')",
        "frame.srcdoc = x", "el.setAttribute('onclick', x)", "a.href = 'javascript:go()'",
    ];
    for (const code of bad) {
        assert.notDeepEqual(findSinks(code), [], `not caught: ${code}`);
    }
    assert.deepEqual(findSinks('// innerHTML is forbidden\n/* eval( */ el.textContent = x;'), []);
    assert.deepEqual(findSinks('evaluate(x); retrieval(x); el.textContent = "a";'), []);
});

test('console/src uses no HTML sink and evaluates no string', () => {
    const all = files(src).filter((p) => /\.(m?js|html)$/.test(p));
    assert.ok(all.length >= 5, `expected the console's sources under ${src}`);
    const problems = [];
    for (const p of all) {
        for (const f of findSinks(readFileSync(p, 'utf8'))) {
            problems.push(`${relative(src, p)}:${f}`);
        }
    }
    assert.deepEqual(problems, [], 'forbidden constructs (console/README.md, "Rules for the JS")');
});

test('index.html has no inline script or style', () => {
    const html = readFileSync(join(src, 'index.html'), 'utf8');
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'an inline <script>');
    assert.doesNotMatch(html, /<style\b/i, 'a <style> element');
    assert.doesNotMatch(html, /\sstyle\s*=/i, 'a style attribute');
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'an on* attribute');
});
