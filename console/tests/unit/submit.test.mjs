// Submitting and signing off: the routes the capture page and the work lists link to,
// and which of 002's three situations a submit answer is.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {parseHash, routes} from '../../src/router.js';
import {situation} from '../../src/views/submit.js';

test('the submit, sign-off, batch and work list routes', () => {
    assert.deepEqual(parseHash('#/submit/BX-1'),
                     {name: 'submit', params: {imageNo: 'BX-1'}, query: {}});
    assert.deepEqual(parseHash('#/submit/a%2Fb?batch=web-u-1'),
                     {name: 'submit', params: {imageNo: 'a/b'}, query: {batch: 'web-u-1'}});
    assert.deepEqual(parseHash('#/match/BX-1'),
                     {name: 'match', params: {imageNo: 'BX-1'}, query: {}});
    assert.deepEqual(parseHash('#/batches/web-u-1'),
                     {name: 'batch', params: {batch: 'web-u-1'}, query: {}});
    assert.deepEqual(parseHash('#/lists/signoff?cursor=B'),
                     {name: 'worklist', params: {list: 'signoff'}, query: {cursor: 'B'}});
    assert.equal(parseHash('#/lists/other').name, 'notfound');
    assert.equal(parseHash('#/submit/').name, 'notfound');
    assert.equal(parseHash('#/match').name, 'notfound');
    assert.equal(routes.submit('a/b', {batch: 'x'}), '#/submit/a%2Fb?batch=x');
    assert.equal(routes.match('a b'), '#/match/a%20b');
    assert.equal(routes.batch('web-1'), '#/batches/web-1');
    assert.equal(routes.worklist('rescan'), '#/lists/rescan');
    for (const h of [routes.submit('x?y'), routes.match('x#y'), routes.batch('b/c')]) {
        assert.equal(parseHash(h).name === 'notfound', false, h);
    }
});

test('the situation of a submit answer', () => {
    const all = {declared: 2, matched: 2};
    assert.equal(situation({mode: 'match', invoices: all, submit: 'auto'}), 1);
    assert.equal(situation({mode: 'match', invoices: all, submit: 'manual'}), 2);
    assert.equal(situation({mode: 'match', invoices: all, submit: null}), 2);
    assert.equal(situation({mode: 'match', invoices: {declared: 2, matched: 1},
                            submit: 'auto'}), 3);
    // Basic and sync bills have no matching: never situation 3.
    assert.equal(situation({mode: 'basic', invoices: {declared: 2, matched: 0},
                            submit: 'manual'}), 2);
    assert.equal(situation({mode: 'basic', submit: 'auto'}), 1);
});
