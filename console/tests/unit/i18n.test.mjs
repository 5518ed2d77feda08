// The word tables: the same keys and kinds in every language, every t('key') in src/
// defined, the language choice.
import assert from 'node:assert/strict';
import {readdirSync, readFileSync, statSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {test} from 'node:test';
import {fileURLToPath} from 'node:url';

import {pickLang, TABLES} from '../../src/i18n.js';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
const files = (dir) => readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
});

test('every language has every key, of the same kind and arity', () => {
    const en = TABLES.en;
    for (const [lang, table] of Object.entries(TABLES)) {
        assert.deepEqual(Object.keys(table).sort(), Object.keys(en).sort(), lang);
        for (const [k, v] of Object.entries(en)) {
            assert.equal(typeof table[k], typeof v, `${lang}.${k}`);
            if (typeof v === 'function') {
                assert.equal(typeof table[k](1, 2, {cover: 1}), 'string', `${lang}.${k}`);
            }
        }
    }
});

test('every key the sources name exists', () => {
    const used = new Set();
    for (const p of files(src).filter((f) => f.endsWith('.js'))) {
        for (const m of readFileSync(p, 'utf8').matchAll(/\bt\(\s*'([a-z_]+)'(?!\s*\+)/g)) {
            used.add(m[1]);
        }
    }
    assert.ok(used.size > 50, `only ${used.size} keys found`);
    const missing = [...used].filter((k) => !(k in TABLES.en));
    assert.deepEqual(missing, []);
    // Keys built from a prefix: states and sections.
    for (const s of ['pending_upload', 'captured', 'submitted', 'ready', 'erp_submitted',
                     'erp_failed', 'returned']) {
        assert.ok(`st_${s}` in TABLES.en, s);
    }
    for (const s of ['cover', 'invoice', 'attachment']) {
        assert.ok(`sec_${s}` in TABLES.en, s);
    }
});

test('the language: the stored choice, else the browser\'s', () => {
    assert.equal(pickLang('zh-CN', 'en-US'), 'zh-CN');
    assert.equal(pickLang('en', 'zh-CN'), 'en');
    assert.equal(pickLang(null, 'zh-TW'), 'zh-CN');
    assert.equal(pickLang(null, 'zh'), 'zh-CN');
    assert.equal(pickLang('fr', 'de-DE'), 'en');
    assert.equal(pickLang(undefined, undefined), 'en');
});
