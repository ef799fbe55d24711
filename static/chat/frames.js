// The chat page's answers to the server's frames (the protocol client, protocol.js, has
// checked each chunk's `seq` and calls these by the frame's `type`).
import { announceConversation, config, els, state, store, Speech, util, Voice } from './page.js';
import { ERROR_CODES, errorText } from './protocol.js';
import { gettext, interpolate } from './i18n.js';
import {
  addBubble, autoScroll, bubbles, cutAfter, olderButton, renderActions, renderMeta, renderNow,
  resetView, scheduleRender, scrollToBottom, showNotice, showPlaceholder, announce,
} from './render.js';
import { flushQueue, refuseSent, requeueBusy, resendPending, updateComposer } from './composer.js';
import { loadConversations, renderConversations } from './sidebar.js';

const C = ERROR_CODES;
const REJECTED_CODES = new Set([C.BAD_FRAME, C.TOO_LONG, C.BUSY, C.RATE_LIMITED, C.QUOTA_EXCEEDED, C.STORAGE_FULL, C.NOT_FOUND]);  // message not saved
const ENDINGS = {
  complete: () => gettext('Answer complete'), stopped: () => gettext('Answer stopped'), error: () => gettext('Answer failed'),
};

// The first frame of every socket, and the answer to a branch switch: the store and the
// view are replaced by the path it holds.
function onHistory(f) {
  Voice.connected();  // a new socket speaks only once told to
  resetView();
  els.messages.replaceChildren();
  const messages = f.messages || [];
  messages.forEach((m) => addBubble(m));
  if (f.has_more) els.messages.prepend(olderButton());
  if (config.chunk_modes.includes(f.chunking)) els.chunking.value = f.chunking;
  if (f.conversation) {
    const c = state.conversations.find((x) => x.id === f.conversation.id);
    if (c) c.title = f.conversation.title;
    els.title.textContent = f.conversation.title || gettext('Untitled');
    renderConversations();
    announceConversation(f.conversation);  // settings.js
  }
  resendPending(messages);
  if (!els.messages.children.length) showPlaceholder(gettext('Say something to start.'));
  updateComposer();
  scrollToBottom();
}

// The title or settings changed (in any tab): settings.js shows the settings. Pinned
// or archived in another tab: the list is read again (its order and what it holds).
function onConversation(f) {
  const changed = f.conversation;
  const c = state.conversations.find((x) => x.id === changed.id);
  const moved = c ? c.pinned !== changed.pinned || c.archived !== changed.archived
    : Boolean(changed.archived) === Boolean(config.list_archived);
  if (c) c.title = changed.title;
  if (changed.id === state.currentId) els.title.textContent = changed.title || gettext('Untitled');
  renderConversations();
  if (moved) loadConversations();
  announceConversation(changed);
}

function onOlder(f) {
  const b = els.messages.querySelector('.load-older');
  if (!b) return;
  const m = els.messages;
  const fromBottom = m.scrollHeight - m.scrollTop;  // keep what the reader sees in place
  const anchor = b.nextSibling;
  (f.messages || []).forEach((msg) => { if (!bubbles.has(msg.id)) addBubble(msg, anchor); });
  if (f.has_more) b.disabled = false;
  else b.remove();
  m.scrollTop = m.scrollHeight - fromBottom;
}

function onMessage(f) {
  const p = store.confirm(f.client_id);
  if (!p) {
    if (bubbles.has(f.id)) return;
    if ('parent_id' in f) cutAfter(f.parent_id);  // an edit starts a new branch
    addBubble(f);  // e.g. typed in another tab
    return;
  }
  if (f.siblings) store.siblings.set(f.id, f.siblings);
  Object.assign(p.view.dataset, { id: f.id, status: f.status || 'complete' });
  bubbles.set(f.id, p.view);
  store.setRaw(f.id, f.content != null ? f.content : p.content);
  if (f.created) p.view.querySelector('.message-time').replaceWith(util.timeElement(f.created));
  renderMeta(p.view, f);
  renderActions(p.view, f);
}

function onStart(f) {
  if (!bubbles.has(f.message_id) && f.parent_id) cutAfter(f.parent_id);  // regenerate, continue
  store.start(f.message_id, f.siblings);
  const b = bubbles.get(f.message_id) ||
    addBubble({ id: f.message_id, role: 'assistant', content: '', status: 'streaming' });
  b.dataset.status = 'streaming';
  b.setAttribute('aria-busy', 'true');
  if (f.model) b.dataset.model = f.model;
  updateComposer();
  scheduleRender(f.message_id);
}

function onChunk(f) {
  const id = f.message_id;
  if (!bubbles.has(id)) onStart({ message_id: id });
  store.appendChunk(id, f.text);
  Speech.onChunk(id, f.text, els.chunking.value);
  scheduleRender(id);
}

function onEnd(f) {
  const id = f.message_id;
  const b = bubbles.get(id);
  store.end(id);
  if (b) {
    b.dataset.status = f.status;
    b.dataset.finishReason = f.finish_reason || '';
    b.removeAttribute('aria-busy');
    renderActions(b);
    renderMeta(b, f);
    renderNow(b);  // the final text is there with the status
    announce(ENDINGS[f.status] ? ENDINGS[f.status]() : interpolate(gettext('Answer %(status)s'), { status: f.status }, true));
  }
  Speech.onEnd(id);
  updateComposer();
  autoScroll();
  flushQueue();  // the next queued message, if any
  loadConversations();  // the title and the order may have changed
  // For the page's other scripts (usage.js reads the day's tokens again).
  document.dispatchEvent(new CustomEvent('chat:answer-end', { detail: { message_id: id, status: f.status } }));
}

function onError(f) {
  // A failed answer's error is shown once, in its bubble (its `end` carries the text);
  // a banner is only for errors that belong to no answer.
  if (f.message_id && bubbles.has(f.message_id)) return;
  if (f.code === C.BUSY && requeueBusy()) return;
  showNotice(f.message || errorText(f.code));
  if (REJECTED_CODES.has(f.code)) refuseSent();
}

export const handlers = {
  history: onHistory, older: onOlder, message: onMessage, start: onStart, chunk: onChunk,
  end: onEnd, error: onError, conversation: onConversation,
  audio: (f) => Voice.onAudio(f), voice_notice: (f) => Voice.onNotice(f),
};
