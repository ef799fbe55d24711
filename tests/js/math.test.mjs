// static/chat/math.js's `protect` (a classic script, run here in a bare context): which
// spans of a model answer are math, swapped for placeholders, and which stay text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const window = {};
vm.runInNewContext(readFileSync(new URL('../../static/chat/math.js', import.meta.url), 'utf8'), { window });
const { protect, PH_OPEN } = window.ChatMath;

// [answer, the spans found ({tex, display}), the text with placeholders shown as «n»]
const CASES = [
  ['Euler: $e^{i\\pi} + 1 = 0$.', [['e^{i\\pi} + 1 = 0', false]], 'Euler: «0».'],
  ['$$\\int_0^1 x\\,dx$$', [['\\int_0^1 x\\,dx', true]], '«0»'],
  ['\\(a_1\\) and \\[b^2\\]', [['a_1', false], ['b^2', true]], '«0» and «1»'],
  ['It costs $5 and $10.', [], 'It costs $5 and $10.'],
  ['An escaped \\$x$ sign', [], 'An escaped \\$x$ sign'],
  ['Code `$x$` stays', [], 'Code `$x$` stays'],
  ['```\n$x$\n```\nafter $y$', [['y', false]], '```\n$x$\n```\nafter «0»'],
  ['Unclosed $$x + 1', [], 'Unclosed $$x + 1'],
  ['$a\n\nb$ spans a paragraph', [], '$a\n\nb$ spans a paragraph'],
];

for (const [raw, spans, shown] of CASES) {
  test(`math in ${JSON.stringify(raw)}`, () => {
    const found = [];
    const out = protect(raw, found);
    assert.deepEqual(found.map((s) => [s.tex, s.display]), spans);
    assert.equal(out.replace(new RegExp(`${PH_OPEN}(\\d+)\\uE001`, 'g'), '«$1»'), shown);
    for (const s of found) assert.ok(raw.includes(s.source), s.source);
  });
}
