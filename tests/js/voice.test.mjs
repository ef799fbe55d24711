// VoicePlayer (static/chat/voice.js): clips play one at a time, in seq order per answer,
// answers in turn; hush stops at once; replay plays an answer's clips again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VoicePlayer } from '../../static/chat/voice.js';

// A stand-in for HTMLAudioElement: records play/pause; `end()` finishes it.
function fakeAudios() {
  const made = [];
  const makeAudio = (url) => {
    const audio = { url, paused: true, onended: null, onerror: null,
      play() { this.paused = false; return Promise.resolve(); },
      pause() { this.paused = true; },
      end() { this.paused = true; if (this.onended) this.onended(); } };
    made.push(audio);
    return audio;
  };
  return { made, makeAudio };
}

const clip = (id, seq) => ({ message_id: id, seq, url: `/a/${id}/${seq}.wav`, text: `${id}${seq}` });

const cases = [
  { name: 'in order as they come', frames: [['a', 0], ['a', 1], ['a', 2]], want: ['a0', 'a1', 'a2'] },
  { name: 'out of order: each waits for the one before', frames: [['a', 1], ['a', 2], ['a', 0]], want: ['a0', 'a1', 'a2'] },
  { name: 'a clip sent twice plays once', frames: [['a', 0], ['a', 0], ['a', 1]], want: ['a0', 'a1'] },
  { name: 'a gap holds the rest back', frames: [['a', 0], ['a', 2]], want: ['a0'] },
];

for (const { name, frames, want } of cases) {
  test(name, () => {
    const { made, makeAudio } = fakeAudios();
    const player = new VoicePlayer({ makeAudio });
    for (const [id, seq] of frames) player.add(clip(id, seq));
    // Finish each clip as it plays, like a browser would.
    for (let i = 0; i < made.length; i += 1) made[i].end();
    assert.deepEqual(player.played.map((p) => `${p.id}${p.seq}`), want);
  });
}

test('one clip plays at a time', () => {
  const { made, makeAudio } = fakeAudios();
  const player = new VoicePlayer({ makeAudio });
  player.add(clip('a', 0));
  player.add(clip('a', 1));
  assert.equal(made.length, 1);
  assert.equal(made[0].paused, false);
  made[0].end();
  assert.equal(made.length, 2);
});

test('hush stops the clip at once and drops what waits; the clips stay for a replay', () => {
  const { made, makeAudio } = fakeAudios();
  const player = new VoicePlayer({ makeAudio });
  player.add(clip('a', 0));
  player.add(clip('a', 1));
  assert.equal(player.hush(), true);
  assert.equal(made[0].paused, true);
  made[0].end();  // a late `ended` from the paused clip starts nothing
  assert.equal(made.length, 1);
  assert.equal(player.hush(), false);  // nothing left to stop
  assert.equal(player.replay('a'), true);
  made[1].end();
  assert.deepEqual(player.played.map((p) => p.url), ['/a/a/0.wav', '/a/a/0.wav', '/a/a/1.wav']);
});

test('a clip that cannot play is skipped', () => {
  const { made, makeAudio } = fakeAudios();
  const player = new VoicePlayer({ makeAudio });
  player.add(clip('a', 0));
  player.add(clip('a', 1));
  made[0].onerror();
  assert.equal(made.length, 2);
});

test('replay of an answer with no clips does nothing', () => {
  const player = new VoicePlayer({ makeAudio: fakeAudios().makeAudio });
  assert.equal(player.replay('nope'), false);
  assert.equal(player.has('nope'), false);
});

test('a clip of a hushed answer that comes late is kept, not played', () => {
  const { made, makeAudio } = fakeAudios();
  const player = new VoicePlayer({ makeAudio });
  player.add(clip('a', 0));
  player.hush();
  player.add(clip('a', 1));  // it was on its way when the user typed
  assert.equal(made.length, 1);
  player.add(clip('b', 0));  // the next answer speaks
  assert.deepEqual(player.played.map((p) => `${p.id}${p.seq}`), ['a0', 'b0']);
  made[1].end();
  assert.equal(player.replay('a'), true);
  made[2].end();
  assert.deepEqual(player.played.map((p) => `${p.id}${p.seq}`), ['a0', 'b0', 'a0', 'a1']);
});
