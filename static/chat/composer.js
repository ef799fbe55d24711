// The chat page's composer: the message box, Send and Stop, the chunking choice, and the
// queue of messages typed while an answer streams (the store keeps the queue; this file
// draws it and sends from it, one message per answer).
import { app, config, els, sendFrame, state, store, util, Voice, Speech } from './page.js';
import { addBubble, announce, appendToMessages, renderActions, renderMeta, scrollToBottom, showNotice, updateBusy } from './render.js';
import { createConversation, draftBody } from './sidebar.js';
import { formatNumber, gettext, interpolate } from './i18n.js';
import { MessageStore } from './store.js';
import {
  attachmentsBlocker, attachmentsUploading, attachmentsWaiting, giveBackAttachments, takeAttachments,
} from './attachments.js';

const CHUNK_KEY = 'chat.chunking';

// While an answer streams, Send stays: a message sent then is queued (see flushQueue).
export function updateComposer() {
  const busy = store.busy;
  els.stop.hidden = !busy;
  els.send.disabled = els.input.disabled || state.creating || attachmentsUploading();
  els.input.placeholder = busy ? gettext('Write your next message (sent when this answer ends)…')
    : gettext('Message (Enter to send)');
  updateBusy();
}

export function setComposerEnabled(enabled) {
  els.input.disabled = els.chunking.disabled = !enabled;
  updateComposer();
}

function checkLength() {
  const n = els.input.value.length;
  const max = config.max_message_chars;
  const numbers = { n: formatNumber(n), max: formatNumber(max), over: formatNumber(n - max) };
  els.hint.classList.toggle('over', n > max);
  if (n > max) {
    els.hint.textContent = interpolate(
      gettext('Your message is %(n)s characters; the limit is %(max)s. Please remove %(over)s.'), numbers, true);
  } else {
    els.hint.textContent = n > max * 0.8 ? interpolate(gettext('%(n)s / %(max)s'), numbers, true) : '';
  }
  return n <= max;
}

function autoGrow() {
  els.input.style.height = 'auto';
  els.input.style.height = `${els.input.scrollHeight + 2}px`;  // CSS max-height caps it
}

// A message's text back into the box, if the box is empty.
function giveBack(content) {
  if (els.input.value) return;
  els.input.value = content;
  autoGrow();
  checkLength();
}

// A sentence under the message box, in place of the length hint.
function hintThat(text) {
  els.hint.textContent = text;
  els.hint.classList.add('over');
}

async function submitMessage() {
  const content = els.input.value.trim();
  if (els.input.disabled || state.creating) return;
  if (!content) {
    if (attachmentsWaiting()) hintThat(gettext('Write a message to go with the files.'));
    return;
  }
  if (!checkLength()) return;
  const blocker = attachmentsBlocker();
  if (blocker) {
    hintThat(blocker);
    return;
  }
  Voice.hush(false);  // barge-in: the server's voice stops for a new message (it hears it too)
  if (!state.currentId) {
    state.creating = true;
    updateComposer();
    try {
      app.openConversation((await createConversation(draftBody())).id, true);
    } catch (e) {
      showNotice(interpolate(gettext('Could not start a new chat: %(error)s'), { error: e.message }, true));
      return;
    } finally {
      state.creating = false;
      updateComposer();
    }
  }
  // Optimistic bubble; the server's `message` frame carrying our client_id confirms it.
  // Behind a streaming answer or other waiting messages it is queued.
  const clientId = util.uuid();
  const attachments = takeAttachments();
  const p = store.add(clientId, content, null, attachments);
  p.view = addBubble({ role: 'user', content, attachments, status: p.queued ? 'queued' : 'pending' });
  p.view.dataset.clientId = clientId;
  if (p.queued) renderMeta(p.view, { status: 'queued' });
  els.input.value = '';
  autoGrow();
  checkLength();
  scrollToBottom();
  if (p.queued) announce(gettext('Queued: it is sent when the answer ends.'));
  flushQueue();  // sends it now if nothing streams and the socket is ready
}

function setQueued(p, queued) {
  p.queued = queued;
  p.view.dataset.status = queued ? 'queued' : 'pending';
  renderMeta(p.view, { status: p.view.dataset.status });
  renderActions(p.view);
}

// Sends the first waiting message once nothing streams and none of ours is in flight;
// the next one goes when the answer to this one has ended (frames.js calls this again).
export function flushQueue() {
  clearTimeout(state.retryTimer);
  const next = store.nextToSend(Boolean(app.client && app.client.ready));
  if (!next) return;
  const [clientId, p] = next;
  if (p.queued) setQueued(p, false);
  if (sendFrame(MessageStore.frame(clientId, p))) p.sent = true;
}

function cancelQueued(bubble) {
  const p = store.cancel(bubble.dataset.clientId);
  if (!p) return;
  bubble.remove();
  giveBack(p.content);
  giveBackAttachments(p.attachments);
  announce(gettext('Queued message cancelled.'));
  els.input.focus();
}

// Messages typed before this socket was ready, or sent on a socket that dropped before
// the server confirmed them (see MessageStore.reconcile): shown again after the history,
// and sent again with the same client_id. Queued messages go through here too: they
// stay queued while the history shows an answer streaming.
export function resendPending(history) {
  const kept = store.reconcile(history);
  for (const { p } of kept) appendToMessages(p.view);
  for (const { p, wait } of kept) if (p.queued !== wait) setQueued(p, wait);
  flushQueue();
}

// The user message was refused: mark it, and give its text back if the box is empty.
export function refuseSent() {
  for (const p of store.refuse()) {
    p.view.dataset.status = 'failed';
    renderMeta(p.view, { status: 'failed' });
    giveBack(p.content);
    giveBackAttachments(p.attachments);
  }
  flushQueue();  // the messages queued behind the refused one
}

// `busy`: an answer (e.g. from another tab) streams. Our message was not saved: queue
// it again; it goes when that answer ends, or after a pause when no answer is in sight
// (its start may still be on the way), a few times before it counts as refused.
export function requeueBusy() {
  const again = store.requeueBusy();
  if (!again) return false;
  for (const p of again) setQueued(p, true);
  clearTimeout(state.retryTimer);
  if (!store.busy) state.retryTimer = setTimeout(flushQueue, 1500);
  return true;
}

export function wireComposer() {
  app.cancelQueued = cancelQueued;
  try {
    const saved = localStorage.getItem(CHUNK_KEY);
    if (config.chunk_modes.includes(saved)) els.chunking.value = saved;
  } catch (e) { /* storage unavailable (private mode): keep the default */ }
  els.chunking.addEventListener('change', () => {
    try { localStorage.setItem(CHUNK_KEY, els.chunking.value); } catch (e) { /* not remembered */ }
    sendFrame({ type: 'set_chunking', mode: els.chunking.value });  // a reconnect uses ?chunk=
  });
  els.composer.addEventListener('submit', (e) => { e.preventDefault(); submitMessage(); });
  els.input.addEventListener('keydown', (e) => {
    // isComposing: the Enter that confirms an IME conversion (e.g. Japanese) must not send.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submitMessage();
    }
  });
  els.input.addEventListener('input', () => { autoGrow(); checkLength(); Voice.hush(true); });
  els.stop.addEventListener('click', () => {
    Speech.cancel([...store.streaming]);
    Voice.hush(false);  // the server's voice stops with the answer
    if (!sendFrame({ type: 'stop' })) showNotice(gettext('Not connected: the answer cannot be stopped right now.'));
  });
}
