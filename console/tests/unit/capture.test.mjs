// The capture page's plain rules (src/editrules.js): image numbers, the batch id, the
// edit mode a bill's state allows, which actions a selection enables, ranges, the
// category a refused move asks to confirm, where a drop lands; the capture routes.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {batchId, confirmCategory, contiguous, dropAfter, editMode, enabled, rangeIds,
        topLevel, validImageNo} from '../../src/editrules.js';
import {parseHash, routes} from '../../src/router.js';

const f = (id, category, extra = {}) => ({file_id: id, category, ...extra});
const all = () => true;

test('image numbers: 1-64 characters of A-Za-z0-9._-', () => {
    for (const ok of ['BX-1', 'a', 'A.b_c-9', 'x'.repeat(64)]) {
        assert.ok(validImageNo(ok), ok);
    }
    for (const bad of ['', 'x'.repeat(65), 'a b', 'a/b', '单据', 'a#b', null, 7]) {
        assert.ok(!validImageNo(bad), String(bad));
    }
});

test('batch id: web-<user>-<local time>-<4 hex>', () => {
    const d = new Date(2026, 11, 6, 9, 5, 7);
    assert.equal(batchId('li.clerk', d, 0.5), 'web-li.clerk-20261206090507-8000');
    assert.equal(batchId('a b/c', d, 0), 'web-a_b_c-20261206090507-0000');
});

test('edit mode by state, mode, cover and the amend permission', () => {
    const cover = [f('c', 'cover')];
    assert.equal(editMode(undefined, null, [], false), 'edit');
    assert.equal(editMode('captured', null, cover, false), 'edit');
    assert.equal(editMode('returned', 'match', [], false), 'edit');
    assert.equal(editMode('submitted', 'match', cover, false), 'supplement');
    assert.equal(editMode('ready', 'basic', cover, true), 'supplement');
    assert.equal(editMode('ready', 'sync', cover, true), 'amend');
    assert.equal(editMode('erp_submitted', 'sync', [], true), 'amend');
    assert.equal(editMode('ready', 'sync', [], false), 'closed');
    assert.equal(editMode('submitted', 'basic', [f('a', 'attachment')], true), 'closed');
});

test('contiguous files in bill order', () => {
    const files = [f('1', 'cover'), f('2', 'invoice'), f('3', 'invoice'), f('4', 'attachment')];
    assert.ok(contiguous(files, ['3', '2']));
    assert.ok(contiguous(files, ['2', '3', '4']));
    assert.ok(!contiguous(files, ['2', '4']));
    assert.ok(!contiguous(files, ['2', 'x']));
    assert.deepEqual(topLevel([f('a', 'x'), f('b', 'x', {merged_into: 'a'})]).map((x) => x.file_id),
                     ['a']);
});

test('actions the selection enables (seed 002)', () => {
    const files = [f('c', 'cover'), f('i1', 'invoice'), f('i2', 'invoice'),
                   f('a1', 'attachment'), f('m', 'attachment', {parts: ['p']}),
                   f('p', 'attachment', {merged_into: 'm'})];
    const pick = (...ids) => files.filter((x) => ids.includes(x.file_id));
    const en = (ids, mode = 'edit', can = all, custom = true) =>
        enabled(files, pick(...ids), mode, can, custom);
    // set as invoice: exactly one, not merged
    assert.ok(en(['a1']).invoice);
    assert.ok(!en(['a1', 'i1']).invoice);
    assert.ok(!en(['m']).invoice);
    // many for attachment and cover; other category needs custom categories
    assert.ok(en(['i1', 'a1']).attachment && en(['i1', 'a1']).cover && en(['i1', 'a1']).other);
    assert.ok(!en(['i1'], 'edit', all, false).other);
    assert.ok(!en([]).attachment);
    // replace scan: one category, no cover; replace cover: exactly one cover
    assert.ok(en(['i1', 'i2']).replace);
    assert.ok(!en(['i1', 'a1']).replace);
    assert.ok(!en(['c']).replace);
    assert.ok(en(['c']).replaceCover);
    assert.ok(!en(['i1']).replaceCover);
    // insert: one; merge: >= 2 contiguous and not merged; split: a merged document
    assert.ok(en(['a1']).insert && !en(['a1', 'i1']).insert);
    assert.ok(en(['i1', 'i2']).merge);
    assert.ok(en(['i2', 'a1']).merge);
    assert.ok(!en(['i1', 'a1']).merge);
    assert.ok(!en(['a1', 'm']).merge);
    assert.ok(en(['m']).split && !en(['a1']).split);
    // delete needs its permission; rotate is open in every state
    assert.ok(en(['a1']).del);
    assert.ok(!en(['a1'], 'edit', (p) => p !== 'delete').del);
    assert.ok(!en(['a1'], 'edit', (p) => p !== 'edit').attachment);
    // supplementary scan: only import (and rotation)
    const s = en(['a1'], 'supplement');
    assert.deepEqual(Object.entries(s).filter(([, v]) => v).map(([k]) => k).sort(),
                     ['import', 'rotate']);
    // amend: import, replace, delete (not a cover); no recategorizing
    const a = en(['i1'], 'amend');
    assert.ok(a.import && a.replace && a.del && !a.attachment && !a.merge && !a.insert);
    assert.ok(!en(['c'], 'amend').del);
    assert.ok(en(['c'], 'amend').replaceCover);
    assert.ok(!enabled(files, [f('i9', 'invoice', {match: 'inv-1'})], 'amend', all, true).replace);
    // closed: rotation only
    const c = en(['a1'], 'closed');
    assert.ok(c.rotate && !c.import && !c.del);
});

test('shift ranges, the move refusal, where a drop lands', () => {
    const order = ['a', 'b', 'c', 'd'];
    assert.deepEqual(rangeIds(order, 'b', 'd'), ['b', 'c', 'd']);
    assert.deepEqual(rangeIds(order, 'd', 'b'), ['b', 'c', 'd']);
    assert.deepEqual(rangeIds(order, null, 'c'), ['c']);
    assert.equal(confirmCategory('moving file f1 into the invoice section makes it an ' +
                                 'invoice: confirm with "category": "invoice"'), 'invoice');
    assert.equal(confirmCategory('file x is matched'), null);
    const files = [f('1', 'cover'), f('2', 'invoice'), f('3', 'invoice')];
    assert.equal(dropAfter(files, '2', false), '2');
    assert.equal(dropAfter(files, '2', true), '1');
    assert.equal(dropAfter(files, '1', true), null);
});

test('capture routes', () => {
    assert.deepEqual(parseHash('#/capture'), {name: 'capture', params: {}, query: {}});
    assert.deepEqual(parseHash(routes.capture('BX 1/2')).params, {imageNo: 'BX 1/2'});
    assert.equal(routes.capture('BX-1'), '#/capture/BX-1');
    assert.equal(routes.capture(), '#/capture');
});
