// "Read aloud": speaks live answers with the browser's speech synthesis.
// In `sentence` and `clause` chunking the server already cuts the text where a voice can
// pause, so each chunk is spoken as it arrives; in `token` and `line` mode the text is
// buffered here and spoken one sentence at a time, which sounds natural.
// Exposes window.ChatSpeech = { init(toggle), onChunk(id, text, mode), onEnd(id), cancel(ids) }.
'use strict';

(function () {
  const STORAGE_KEY = 'chat.readAloud';
  const synth = window.speechSynthesis;
  const supported = Boolean(synth && window.SpeechSynthesisUtterance);
  const JAPANESE = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]/;
  // A sentence end: 。！？ (no space needed in Japanese), or .!? followed by a space or newline;
  // a line break too (list items, headings). The end of the answer is handled by onEnd,
  // which speaks whatever is left.
  const SENTENCE_END = /[。！？]+[」』）)"'”’]*|[.!?]+[)"'”’\]]*(?=\s)|\n+/g;

  let toggle = null;
  let enabled = false;
  const messages = new Map();  // message id -> {buffer, inFence, lineStart, skipLine}
  const muted = new Set();     // answers stopped by the user: their last chunks stay silent

  function init(toggleEl) {
    toggle = toggleEl;
    if (!toggle) return;
    if (!supported) {
      toggle.checked = false;
      toggle.disabled = true;
      const why = 'Read aloud is not available: this browser has no speech synthesis.';
      toggle.title = why;
      if (toggle.parentElement) toggle.parentElement.title = why;
      return;
    }
    try { enabled = localStorage.getItem(STORAGE_KEY) === '1'; } catch (e) { /* no storage */ }
    toggle.checked = enabled;
    toggle.addEventListener('change', () => {
      enabled = toggle.checked;
      try { localStorage.setItem(STORAGE_KEY, enabled ? '1' : '0'); } catch (e) { /* not remembered */ }
      if (!enabled) cancel();
    });
  }

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

  function speak(text) {
    const clean = stripMarkdown(text);
    if (!/[\p{L}\p{N}]/u.test(clean)) return;  // nothing but punctuation or spaces
    const u = new SpeechSynthesisUtterance(clean);
    u.lang = JAPANESE.test(clean) ? 'ja-JP' : (document.documentElement.lang || navigator.language || 'en');
    synth.speak(u);
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
  }

  window.ChatSpeech = { supported, init, onChunk, onEnd, cancel, isOn: () => enabled && supported };
}());
