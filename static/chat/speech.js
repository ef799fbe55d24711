// "Read aloud" with the browser's speech synthesis: live answers (the options' toggle), and
// any one answer again with its own button. The voice and speed are the user's choice (the
// options popover, #voice-select and #speech-rate), remembered in localStorage.
// In `sentence` and `clause` chunking the server already cuts the text where a voice can
// pause, so each chunk is spoken as it arrives; in `token` and `line` mode the text is
// buffered here and spoken one sentence at a time, which sounds natural.
// Exposes window.ChatSpeech = { init(toggle), onChunk(id, text, mode), onEnd(id), cancel(ids),
// controls(id) -> [button], onClick(target, rawOf) -> handled }.
'use strict';

(function () {
  const { el, button } = window.ChatUtil;
  const STORAGE_KEY = 'chat.readAloud';
  const VOICE_KEY = 'chat.voice';
  const RATE_KEY = 'chat.speechRate';
  const RATES = [0.75, 1, 1.25, 1.5, 1.75, 2];
  const synth = window.speechSynthesis;
  const supported = Boolean(synth && window.SpeechSynthesisUtterance);
  const JAPANESE = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]/;
  // A sentence end: 。！？ (no space needed in Japanese), or .!? followed by a space or newline;
  // a line break too (list items, headings). The end of the answer is handled by onEnd,
  // which speaks whatever is left.
  const SENTENCE_END = /[。！？]+[」』）)"'”’]*|[.!?]+[)"'”’\]]*(?=\s)|\n+/g;

  let toggle = null;
  let enabled = false;
  const prefs = { voice: '', rate: 1 };  // voice: a voiceURI, '' for the browser's default
  let playing = null;  // the answer its button reads: {id, left: utterances not yet ended}
  const messages = new Map();  // message id -> {buffer, inFence, lineStart, skipLine}
  const muted = new Set();     // answers stopped by the user: their last chunks stay silent

  const stored = (key) => { try { return localStorage.getItem(key); } catch (e) { return null; } };
  const store = (key, value) => { try { localStorage.setItem(key, value); } catch (e) { /* not remembered */ } };

  function init(toggleEl) {
    toggle = toggleEl;
    initChoices(document.getElementById('voice-select'), document.getElementById('speech-rate'));
    if (!toggle) return;
    if (!supported) {
      toggle.checked = false;
      toggle.disabled = true;
      const why = gettext('Read aloud is not available: this browser has no speech synthesis.');
      toggle.title = why;
      if (toggle.parentElement) toggle.parentElement.title = why;
      return;
    }
    enabled = stored(STORAGE_KEY) === '1';
    toggle.checked = enabled;
    toggle.addEventListener('change', () => {
      enabled = toggle.checked;
      store(STORAGE_KEY, enabled ? '1' : '0');
      if (!enabled) cancel();
    });
  }

  // The voice and speed pickers: the browser's voices (they may arrive late, with a
  // `voiceschanged` event, or never: then only "Browser default" is offered).
  function initChoices(voiceSelect, rateSelect) {
    const rate = Number(stored(RATE_KEY));
    if (RATES.includes(rate)) prefs.rate = rate;
    prefs.voice = stored(VOICE_KEY) || '';
    if (rateSelect) {
      rateSelect.value = String(prefs.rate);
      rateSelect.disabled = !supported;
      rateSelect.addEventListener('change', () => {
        prefs.rate = Number(rateSelect.value) || 1;
        store(RATE_KEY, String(prefs.rate));
      });
    }
    if (!voiceSelect) return;
    voiceSelect.disabled = !supported;
    if (!supported) return;
    const fill = () => {
      const options = voices().map((v) => Object.assign(el('option', null, `${v.name} (${v.lang})`), { value: v.voiceURI }));
      voiceSelect.replaceChildren(Object.assign(el('option', null, gettext('Browser default')), { value: '' }), ...options);
      voiceSelect.value = chosenVoice() ? prefs.voice : '';
    };
    fill();
    if (synth.addEventListener) synth.addEventListener('voiceschanged', fill);
    voiceSelect.addEventListener('change', () => {
      prefs.voice = voiceSelect.value;
      store(VOICE_KEY, prefs.voice);
    });
  }

  const voices = () => {
    try { return synth.getVoices() || []; } catch (e) { return []; }
  };
  const chosenVoice = () => (prefs.voice && voices().find((v) => v.voiceURI === prefs.voice)) || null;

  function stateFor(id) {
    if (!messages.has(id)) messages.set(id, { buffer: '', inFence: false, lineStart: true, skipLine: false });
    return messages.get(id);
  }

  // Drops fenced code blocks (reading code aloud is noise); works across chunk boundaries.
  function dropCode(st, text) {
    let out = '';
    for (const part of text.split(/(?<=\n)/)) {
      if (st.lineStart && /^\s{0,3}(```|~~~)/.test(part)) {
        st.inFence = !st.inFence;
        st.skipLine = true;
      }
      if (!st.inFence && !st.skipLine) out += part;
      st.lineStart = part.endsWith('\n');
      if (st.lineStart) st.skipLine = false;
    }
    return out;
  }

  // Markdown symbols a voice should not pronounce.
  function stripMarkdown(text) {
    return text
      .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')        // images -> alt text
      .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')         // links -> their text
      .replace(/<[^>]+>/g, ' ')                        // html tags
      .replace(/^\s{0,3}#{1,6}\s+/gm, '')              // headings
      .replace(/^\s{0,3}>\s?/gm, '')                   // quotes
      .replace(/^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?/gm, '')  // list markers, task boxes
      .replace(/^\s*\|?(?:\s*:?-{3,}:?\s*\|?)+\s*$/gm, '')   // table separator rows
      .replace(/\|/g, ' ')
      .replace(/(\*\*|__|\*|_|~~|`+)(?=\S)|(?<=\S)(\*\*|__|\*|_|~~|`+)/g, '')
      .replace(/^\s*(?:-{3,}|\*{3,}|_{3,})\s*$/gm, '')  // rules
      .replace(/\s+/g, ' ')
      .trim();
  }

  // Speaks one piece in the chosen voice and speed; a Japanese piece keeps the chosen voice
  // only if it is a Japanese one. Returns the utterance, or null for a piece with no words.
  function speak(text) {
    const clean = stripMarkdown(text);
    if (!/[\p{L}\p{N}]/u.test(clean)) return null;  // nothing but punctuation or spaces
    const u = new SpeechSynthesisUtterance(clean);
    const japanese = JAPANESE.test(clean);
    const voice = chosenVoice();
    if (voice && (!japanese || /^ja/i.test(voice.lang))) {
      u.voice = voice;
      u.lang = voice.lang;
    } else {
      u.lang = japanese ? 'ja-JP' : (document.documentElement.lang || navigator.language || 'en');
    }
    u.rate = prefs.rate;
    synth.speak(u);
    return u;
  }

  // Speaks every complete sentence in the buffer and keeps the rest.
  function speakSentences(st) {
    let last = 0;
    for (const m of st.buffer.matchAll(SENTENCE_END)) {
      const end = m.index + m[0].length;
      speak(st.buffer.slice(last, end));
      last = end;
    }
    st.buffer = st.buffer.slice(last);
  }

  function onChunk(id, text, mode) {
    if (!enabled || !supported || muted.has(id)) return;
    const st = stateFor(id);
    const spoken = dropCode(st, text);
    if (mode === 'sentence' || mode === 'clause') {
      st.buffer += spoken;
      speak(st.buffer);
      st.buffer = '';
    } else {
      st.buffer += spoken;
      speakSentences(st);
    }
  }

  function onEnd(id) {
    const st = messages.get(id);
    messages.delete(id);
    if (muted.delete(id)) return;
    if (st && enabled && supported && st.buffer) speak(st.buffer);
  }

  // Silences everything now; `ids` (answers still streaming) stay silent until they end.
  function cancel(ids) {
    messages.clear();
    if (!ids) muted.clear();
    for (const id of ids || []) muted.add(id);
    if (supported) synth.cancel();
    setPlaying(null);
  }

  // ---- one answer, again: its "Read aloud" button -------------------------------------

  const ICON = window.ChatUtil.icon('M11 5 6 9H2v6h4l5 4V5zM15.54 8.46a5 5 0 0 1 0 7.07M19.07 4.93a10 10 0 0 1 0 14.14');
  const STOP_ICON = window.ChatUtil.icon('M6 6h12v12H6z');

  function drawButton(b, on) {
    b.innerHTML = on ? STOP_ICON : ICON;  // constants
    b.append(el('span', 'read-aloud-text', on ? gettext('Stop') : gettext('Read aloud')));
    b.setAttribute('aria-pressed', String(on));
    b.setAttribute('aria-label', on ? gettext('Stop reading this answer') : gettext('Read this answer aloud'));
    b.title = on ? gettext('Stop reading') : gettext('Read this answer aloud');
  }

  // The buttons of a finished answer's action row (none without speech synthesis).
  function controls(id) {
    if (!supported || !id) return [];
    const b = button('read-aloud-button', null, '', null);
    drawButton(b, Boolean(playing && playing.id === id));
    return [b];
  }

  function setPlaying(next) {
    const before = playing;
    playing = next;
    for (const id of new Set([before && before.id, next && next.id])) {
      if (!id) continue;
      for (const b of document.querySelectorAll(`.message[data-id="${CSS.escape(id)}"] .read-aloud-button`)) {
        drawButton(b, Boolean(playing && playing.id === id));
      }
    }
  }

  // Reads the whole answer (its code blocks left out) one sentence at a time, or stops it.
  // Either way the live reading of an answer still streaming stops, as with Stop.
  function play(id, raw) {
    const again = playing && playing.id === id;
    cancel([...messages.keys()]);
    if (again) return;
    const st = { buffer: '', inFence: false, lineStart: true, skipLine: false };
    const text = dropCode(st, raw);
    const pieces = [];
    let last = 0;
    for (const m of text.matchAll(SENTENCE_END)) {
      pieces.push(text.slice(last, m.index + m[0].length));
      last = m.index + m[0].length;
    }
    pieces.push(text.slice(last));
    const current = { id, left: 0 };
    const done = () => {
      current.left -= 1;
      if (current.left <= 0 && playing === current) setPlaying(null);
    };
    for (const piece of pieces) {
      const u = speak(piece);
      if (!u) continue;
      current.left += 1;
      u.onend = u.onerror = done;
    }
    if (current.left) setPlaying(current);
  }

  // A click in the message list: true when it was a "Read aloud" button.
  function onClick(target, rawOf) {
    const b = target.closest && target.closest('.read-aloud-button');
    const bubble = b && b.closest('.message');
    if (!bubble || !supported) return false;
    play(bubble.dataset.id, rawOf(bubble.dataset.id));
    return true;
  }

  window.ChatSpeech = { supported, init, onChunk, onEnd, cancel, controls, onClick, isOn: () => enabled && supported };
}());
