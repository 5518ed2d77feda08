// The plain logic of administration and the cluster view: routes, the organisation
// tree's order, quota levels, clock offsets, and the operator's ?tenant= on calls.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {parseHash, routes} from '../../src/router.js';
import {treeOrder} from '../../src/views/admin/orgs.js';
import {usageLevel, usedPercent} from '../../src/views/admin/usage.js';
import {offsetText} from '../../src/views/cluster.js';

test('admin and cluster routes round-trip, names encoded', () => {
    assert.deepEqual(parseHash(routes.admin('users')),
                     {name: 'admin', params: {page: 'users', arg: ''}, query: {}});
    assert.deepEqual(parseHash(routes.admin('users', 'a/b c')).params,
                     {page: 'users', arg: 'a/b c'});
    assert.equal(routes.admin('users', 'a/b'), '#/admin/users/a%2Fb');
    assert.deepEqual(parseHash('#/admin').params, {page: 'users', arg: ''});
    assert.equal(parseHash('#/admin/users/x/y').name, 'notfound');
    assert.equal(parseHash('#/admin//x').name, 'notfound');
    assert.equal(parseHash(routes.cluster()).name, 'cluster');
});

test('the organisation tree: parents first, children by name, orphans at the top', () => {
    const order = treeOrder([
        {id: 'c', name: 'Zeta', parent: 'a'}, {id: 'a', name: 'Alpha', parent: null},
        {id: 'b', name: 'Beta', parent: null}, {id: 'd', name: 'Delta', parent: 'a'},
        {id: 'e', name: 'Lost', parent: 'gone'},
    ]);
    assert.deepEqual(order.map(({org, depth}) => org.id + depth),
                     ['a0', 'd1', 'c1', 'b0', 'e0']);
    // A cycle (never stored by the node) does not loop forever.
    assert.deepEqual(treeOrder([{id: 'x', name: 'X', parent: 'y'},
                                {id: 'y', name: 'Y', parent: 'x'}]), []);
});

test('quota levels: 80% warns, 95% is critical, no quota is none', () => {
    assert.equal(usedPercent(0, 100), 0);
    assert.equal(usedPercent(805, 1000), 80.5);
    assert.equal(usedPercent(5, 0), null);
    assert.equal(usageLevel(null), 'none');
    assert.equal(usageLevel(79.9), 'ok');
    assert.equal(usageLevel(80), 'warning');
    assert.equal(usageLevel(94.9), 'warning');
    assert.equal(usageLevel(95), 'critical');
});

test('clock offsets', () => {
    assert.equal(offsetText(null), '–');
    assert.equal(offsetText(0), '0 ms');
    assert.equal(offsetText(12), '+12 ms');
    assert.equal(offsetText(-3), '-3 ms');
});
