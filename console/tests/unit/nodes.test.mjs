// The other nodes' banner's plain logic (src/nodelist.js): only http(s) URLs become
// links, this node is left out, a link leads to the sign-in and on to this page.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {consoleUrl, linkTarget, otherNodes} from '../../src/nodelist.js';

test('consoleUrl keeps http(s) origins only', () => {
    assert.equal(consoleUrl('http://10.0.0.2:8080'), 'http://10.0.0.2:8080/');
    assert.equal(consoleUrl('https://n2.example/some/path?x#y'), 'https://n2.example/');
    for (const bad of ['javascript:alert(1)', 'JavaScript:alert(1)', 'data:text/html,x',
                       'ftp://n2/', 'http://user:pw@n2/', '//n2:80', 'n2:8080', '', null,
                       42, {}, 'file:///etc/passwd', 'vbscript:x']) {
        assert.equal(consoleUrl(bad), null, String(bad));
    }
});

test('otherNodes leaves out this node and entries without a usable URL', () => {
    const nodes = [
        {id: '1', url: 'http://127.0.0.1:1001', zone: 'a', health: 'ok', leader: true},
        {id: '2', url: 'http://127.0.0.1:1002', zone: 'b', health: 'ok', leader: false},
        {id: '3', url: 'javascript:alert(1)', zone: '', health: 'ok'},
        {id: '4', url: null, health: 'down'},
        null,
        {id: '18446744073709551615', url: 'https://127.0.0.1:1005/', health: 'down'},
    ];
    assert.deepEqual(otherNodes(nodes, 'http://127.0.0.1:1001'), [
        {id: '2', url: 'http://127.0.0.1:1002/', health: 'ok', zone: 'b'},
        {id: '18446744073709551615', url: 'https://127.0.0.1:1005/', health: 'down', zone: ''},
    ]);
    assert.deepEqual(otherNodes('nope', 'http://x'), []);
    assert.deepEqual(otherNodes(undefined, 'http://x'), []);
});

test('linkTarget opens the sign-in there and returns to this page', () => {
    const base = 'http://127.0.0.1:1002/';
    assert.equal(linkTarget(base, '#/bills/BX-1'),
                 'http://127.0.0.1:1002/#/login?next=%23%2Fbills%2FBX-1');
    assert.equal(linkTarget(base, '#/login?next=x'), 'http://127.0.0.1:1002/#/login');
    assert.equal(linkTarget(base, ''), 'http://127.0.0.1:1002/#/login');
    assert.equal(linkTarget(base, 'javascript:x'), 'http://127.0.0.1:1002/#/login');
});
