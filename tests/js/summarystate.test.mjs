// static/chat/summarystate.js: the marker's state and words, and the context meter,
// from GET /api/conversations/<id>/summary/'s JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markerOpens, markerState, markerText, meter, summaryMayCome } from '../../static/chat/summarystate.js';

const context = (over = {}) => ({ used: 100, budget: 1000, cut: false, summarised: false, ...over });
const summary = (status) => ({ text: status === 'ready' ? 'So far…' : '', status, edited: false, max_chars: 250 });

const CASES = [
  // [what, data, state, opens, mayCome: look again for a summary being written]
  ['nothing known', null, 'none', false, false],
  ['everything fits', { summary: null, context: context() }, 'none', false, false],
  ['a summary in use', { summary: summary('ready'), context: context({ cut: false, summarised: true }) }, 'summarised', true, false],
  ['a summary in use, still cut', { summary: summary('ready'), context: context({ cut: true, summarised: true }) }, 'summarised', true, false],
  ['the last attempt failed', { summary: summary('failed'), context: context({ cut: true }) }, 'failed', true, false],
  ['cut, no summary yet', { summary: null, context: context({ cut: true }) }, 'cut', false, true],
  ['cut, its summary cleared', { summary: summary('cleared'), context: context({ cut: true }) }, 'cut', false, false],
  ['a summary not needed any more', { summary: summary('ready'), context: context() }, 'none', false, false],
];

for (const [what, data, state, opens, mayCome] of CASES) {
  test(`marker: ${what}`, () => {
    assert.equal(markerState(data), state);
    assert.equal(markerOpens(data), opens);
    assert.equal(summaryMayCome(data), mayCome);
  });
}

test('marker words: one sentence per state, none when everything fits', () => {
  assert.equal(markerText('summarised'), 'Earlier messages are summarised for the model');
  assert.equal(markerText('failed'), 'Earlier messages could not be summarised: the oldest are left out');
  assert.equal(markerText('cut'), 'The oldest messages are left out for the model');
  assert.equal(markerText('none'), '');
});

test('meter: numbers in the given language, the share and its state', () => {
  const m = meter({ summary: null, context: context({ used: 12300, budget: 24000 }) }, 'en');
  assert.deepEqual(m, { text: '12,300 of 24,000 characters of context', share: 12300 / 24000, state: 'ok' });
  assert.equal(meter({ context: context({ used: 900 }) }, 'en').state, 'low');
  assert.equal(meter({ context: context({ used: 990, cut: true }) }, 'en').state, 'full');
  assert.equal(meter({ context: context({ used: 500, cut: true, summarised: true }) }, 'en').state, 'ok');
  assert.equal(meter({ context: context({ used: 5000 }) }, 'en').share, 1);
});

test('meter: none without a budget', () => {
  assert.equal(meter(null), null);
  assert.equal(meter({ context: context({ budget: 0 }) }), null);
});
