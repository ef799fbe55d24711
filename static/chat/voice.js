// Voice mode: answers spoken by the server's speech engine (chat/streaming/stream/voice.py).
// The server sends an `audio` frame for each clause or sentence as soon as it is
// synthesised; this module plays them in order while the text still streams. Barge-in:
// Stop, a new message or typing silences it at once. Each answer's clips can be replayed
// (the browser keeps them: nothing is synthesised twice).
// An ES module: `VoicePlayer` is the ordering logic (tests/js/voice.test.mjs runs it under
// `node --test`); in a page it also wires itself up as window.ChatVoice =
// { init({send, notify}), onAudio(f), onNotice(f), connected(), hush(tellServer), controls(id) }.
import { gettext } from './i18n.js';

// Plays each answer's clips in `seq` order, answers in the order their first clip came.
// `makeAudio(url)` returns something with play(), pause() and an `onended` property (an
// HTMLAudioElement in the page). `played` lists every clip started, for tests and replay.
export class VoicePlayer {
  constructor({ makeAudio, onChange = () => {} }) {
    this.makeAudio = makeAudio;
    this.onChange = onChange;
    this.clips = new Map();   // message id -> Map(seq -> {url, text})
    this.order = [];          // message ids to play, in turn
    this.next = new Map();    // message id -> the next seq to play
    this.current = null;      // {id, seq, audio} playing now
    this.silenced = new Set(); // answers hushed: their late clips are kept, not played
    this.played = [];
  }

  // An `audio` frame: kept, and played when its turn comes.
  add(frame) {
    const { message_id: id, seq, url, text } = frame;
    if (!this.clips.has(id)) this.clips.set(id, new Map());
    if (this.clips.get(id).has(seq)) return;  // sent again (a reconnect): once is enough
    this.clips.get(id).set(seq, { url, text });
    if (!this.next.has(id) && !this.silenced.has(id)) {
      this.next.set(id, 0);
      this.order.push(id);
    }
    this.onChange(id);
    this.pump();
  }

  // Stop at once and forget what was waiting (the clips stay, for a replay).
  hush() {
    const wasActive = Boolean(this.current) || this.order.length > 0;
    for (const id of this.order) this.silenced.add(id);
    if (this.current) {
      this.current.audio.onended = null;
      this.current.audio.pause();
      this.current = null;
    }
    this.order = [];
    this.next.clear();
    return wasActive;
  }

  // One answer's clips again, from the first.
  replay(id) {
    if (!this.clips.has(id)) return false;
    this.hush();
    this.next.set(id, 0);
    this.order.push(id);
    this.pump();
    return true;
  }

  has(id) { return this.clips.has(id) && this.clips.get(id).size > 0; }

  pump() {
    while (!this.current && this.order.length) {
      const id = this.order[0];
      const seq = this.next.get(id);
      const clip = this.clips.get(id).get(seq);
      if (!clip) return;  // the next piece is still being synthesised: wait for it
      this.next.set(id, seq + 1);
      const audio = this.makeAudio(clip.url);
      this.current = { id, seq, audio };
      this.played.push({ id, seq, url: clip.url });
      const done = () => {
        if (!this.current || this.current.audio !== audio) return;
        this.current = null;
        this.pump();
      };
      audio.onended = done;
      audio.onerror = done;  // a clip that cannot play is skipped, not a stuck voice
      const playing = audio.play();
      if (playing && playing.catch) playing.catch(done);
    }
  }

}

// An answer whose clips all came and played makes way for the next one. The server sends
// no "last clip" marker: an answer's turn passes when a later answer's clip is waiting.
const nextAnswer = (player) => {
  if (player.current || player.order.length < 2) return;
  const [id] = player.order;
  if (!player.clips.get(id).has(player.next.get(id))) {
    player.order.shift();
    player.pump();
  }
};

function wire(window) {
  const document = window.document;
  const STORAGE_KEY = 'chat.serverVoice';
  const MODE_KEY = 'chat.serverVoiceMode';
  const stored = (key) => { try { return window.localStorage.getItem(key); } catch (e) { return null; } };
  const store = (key, value) => { try { window.localStorage.setItem(key, value); } catch (e) { /* not remembered */ } };
  let send = () => false;
  let notify = () => {};
  let enabled = stored(STORAGE_KEY) === '1';
  let mode = stored(MODE_KEY) === 'sentence' ? 'sentence' : 'clause';
  const player = new VoicePlayer({
    makeAudio: (url) => new window.Audio(url),
    onChange: (id) => document.dispatchEvent(new window.CustomEvent('chat:voice', { detail: { id } })),
  });

  const tell = () => send({ type: 'set_voice', on: enabled, mode });

  function init(options) {
    ({ send, notify } = options);
    const toggle = document.getElementById('server-voice-toggle');
    const select = document.getElementById('server-voice-mode');
    if (toggle) {
      toggle.checked = enabled;
      toggle.addEventListener('change', () => {
        enabled = toggle.checked;
        store(STORAGE_KEY, enabled ? '1' : '0');
        if (!enabled) player.hush();
        const readAloud = document.getElementById('read-aloud-toggle');
        if (enabled && readAloud && readAloud.checked) {  // one voice at a time
          readAloud.checked = false;
          readAloud.dispatchEvent(new window.Event('change'));
        }
        tell();
      });
    }
    if (select) {
      select.value = mode;
      select.addEventListener('change', () => {
        mode = select.value === 'sentence' ? 'sentence' : 'clause';
        store(MODE_KEY, mode);
        tell();
      });
    }
  }

  // Stop speaking; `tellServer`: the user typed, so the server drops what it would say.
  function hush(tellServer) {
    const wasActive = player.hush();
    if (tellServer && wasActive && enabled) send({ type: 'hush' });
  }

  function controls(id) {
    if (!player.has(id)) return [];
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'voice-replay-button';
    b.textContent = gettext('Replay voice');
    b.title = gettext("Play this answer's voice again");
    b.addEventListener('click', () => player.replay(id));
    return [b];
  }

  window.ChatVoice = {
    init,
    connected: () => { if (enabled) tell(); },  // every new socket starts silent
    onAudio: (f) => { player.add(f); nextAnswer(player); },
    onEnd: () => nextAnswer(player),
    onNotice: (f) => notify(f.message),
    hush,
    controls,
    player,
  };
}

if (typeof window !== 'undefined' && window.document) wire(window);
