// The shared page's version switches (static/chat/shared.js): the path to a leaf, a
// message's versions, and where switching to a version leads, on a snapshot's messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pathTo, versionsOf, switchTo } from '../../static/chat/shared.js';

// q0 -> a1, a2 (regenerated); a2 -> q3 -> a4; q5 (an edit of q0) -> a6.
const m = (n, parent) => ({ n, parent, role: 'user', content: `m${n}` });
const messages = [m(0, null), m(1, 0), m(2, 0), m(3, 2), m(4, 3), m(5, null), m(6, 5)];
const ns = (list) => list.map((x) => x.n);

test('the path runs from a root down to the leaf', () => {
  assert.deepEqual(ns(pathTo(messages, 4)), [0, 2, 3, 4]);
  assert.deepEqual(ns(pathTo(messages, 6)), [5, 6]);
  assert.deepEqual(ns(pathTo(messages, null)), []);
  assert.deepEqual(ns(pathTo(messages, 99)), []);
});

test("a message's versions are its parent's children, oldest first", () => {
  assert.deepEqual(versionsOf(messages, 2), [1, 2]);
  assert.deepEqual(versionsOf(messages, 0), [0, 5]);
  assert.deepEqual(versionsOf(messages, 4), [4]);
});

test('switching to a version shows its newest replies', () => {
  assert.deepEqual(ns(pathTo(messages, switchTo(messages, 1))), [0, 1]);
  assert.deepEqual(ns(pathTo(messages, switchTo(messages, 2))), [0, 2, 3, 4]);
  assert.deepEqual(ns(pathTo(messages, switchTo(messages, 0))), [0, 2, 3, 4]);
  assert.deepEqual(ns(pathTo(messages, switchTo(messages, 5))), [5, 6]);
});

test('a cycle in a forged snapshot does not hang the page', () => {
  const loop = [{ n: 0, parent: 1 }, { n: 1, parent: 0 }];
  assert.ok(pathTo(loop, 0).length <= 3);
  assert.equal(typeof switchTo(loop, 0), 'number');
});
