// describe() of static/chat/temporary.js: what the note says of a conversation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describe } from '../../static/chat/temporary.js';

const now = new Date(2026, 11, 7, 9, 0);
const cases = [
  { name: 'a kept chat: no note', conversation: { id: 'c', temporary: false }, want: '' },
  { name: 'nothing open: no note', conversation: null, want: '' },
  { name: 'a new temporary chat: no time yet', conversation: { id: '', temporary: true },
    want: /^Temporary chat: it will not be listed or searched, and is deleted after a while\. Staff can review it/ },
  { name: 'deleted later today', conversation: { id: 'c', temporary: true, expires: new Date(2026, 11, 7, 17, 30).toISOString() },
    want: /^Temporary chat: not listed or searched, deleted today at (17|0?5):30( PM)?\. Staff can review it like any chat\.$/ },
  { name: 'deleted tomorrow: the date', conversation: { id: 'c', temporary: true, expires: new Date(2026, 11, 8, 8, 0).toISOString() },
    want: /deleted .*2026.* at / },
];

for (const { name, conversation, want } of cases) {
  test(name, () => {
    const text = describe(conversation, now);
    if (want instanceof RegExp) assert.match(text, want);
    else assert.equal(text, want);
  });
}
