// The chat page's message view: one bubble per message, drawn from the store's raw text,
// never from what the DOM shows: user text as textContent, model text through
// ChatMarkdown (marked -> DOMPurify -> external images blocked).
import { app, Branches, els, Feedback, Markdown, Speech, state, store, util, Voice, sendFrame } from './page.js';
import { formatNumber, gettext, interpolate } from './i18n.js';
import { fileList } from './attachments.js';

const { el, button, timeElement, copyWithFeedback } = util;

const TAGS = {
  stopped: () => gettext('stopped'), error: () => gettext('error'),
  failed: () => gettext('not sent'), queued: () => gettext('queued'),
};
const COPY_ICON = '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false">' +
  '<rect x="9" y="9" width="11" height="11" rx="2" fill="none" stroke="currentColor" stroke-width="2"/>' +
  '<path d="M5 15V5a2 2 0 0 1 2-2h8" fill="none" stroke="currentColor" stroke-width="2"/></svg>';
const CANCEL_ICON = util.icon('M18 6 6 18M6 6l12 12');

export const bubbles = new Map();  // message id -> .message element
const dirty = new Set();           // message ids to re-render at the next animation frame
let frame = 0;                     // requestAnimationFrame handle, 0 when none is pending

// Queued messages stay last: anything else goes above the first of them.
export function appendToMessages(node) {
  const placeholder = els.messages.querySelector('.empty-state, .gone-state');
  if (placeholder) placeholder.remove();
  const firstQueued = node.dataset && node.dataset.status === 'queued' ? null
    : els.messages.querySelector(':scope > .message[data-status="queued"]');
  els.messages.insertBefore(node, firstQueued);
  autoScroll();
}

export const showPlaceholder = (text) => els.messages.replaceChildren(el('p', 'empty-state', text));

export function showNotice(message) {
  const notice = el('div', 'error-notice');
  notice.append(el('span', 'error-notice-text', message),
    button('icon-button', '×', gettext('Dismiss this notice'), () => notice.remove()));
  appendToMessages(notice);
  scrollToBottom();
}

// A conversation that does not exist (deleted, or a wrong link): say so, and offer a
// way forward. The composer stays usable: typing starts a new chat.
export function showGone() {
  const box = el('div', 'gone-state');
  const start = gettext('Start a new chat');
  box.append(el('h2', 'gone-title', gettext('This conversation no longer exists')),
    el('p', 'gone-text', gettext('It was deleted, or the link is wrong.')),
    button('primary gone-new-chat', start, start, () => app.newChat()));
  els.messages.replaceChildren(box);
  els.title.textContent = gettext('Conversation not found');
}

function copyButton() {
  const b = button('copy-button', null, gettext('Copy answer'), null);
  b.innerHTML = COPY_ICON;  // a constant, not model text
  b.append(el('span', 'copy-label', gettext('Copy')));
  b.title = gettext('Copy the answer (markdown)');
  return b;
}

// `before`: insert above that node (older messages), else append.
export function addBubble(m, before = null) {
  const b = el('div', 'message');
  Object.assign(b.dataset, { id: m.id || '', role: m.role, status: m.status || 'complete', model: m.model || '',
    finishReason: m.finish_reason || '' });
  store.setMessage(m);
  const who = { user: gettext('You'), assistant: gettext('Assistant') }[m.role] || m.role;
  const head = el('div', 'message-head');
  head.append(el('span', 'message-role', who), timeElement(m.created));
  const footer = el('div', 'message-footer');
  footer.append(el('div', 'message-actions'), el('div', 'message-meta'));
  b.append(head, el('div', 'message-text'), footer);
  const files = fileList(m.attachments);
  if (files) b.insertBefore(files, footer);
  renderActions(b, m);
  if (m.id) bubbles.set(m.id, b);
  if (m.status === 'streaming') b.setAttribute('aria-busy', 'true');  // screen readers get the answer once it is done
  else renderMeta(b, m);
  renderText(b, m.id ? null : m.content);
  if (before) {
    els.messages.insertBefore(b, before);
  } else {
    const previous = lastShown();
    appendToMessages(b);
    if (previous) renderActions(previous);  // it is no longer last (Continue goes)
  }
  return b;
}

// The bubbles of the path shown (saved messages), oldest first.
const shownPath = () => [...els.messages.querySelectorAll(':scope > .message')].filter((b) => b.dataset.id);
const lastShown = () => shownPath().pop() || null;

// A new branch starts after message `parentId` (null: at the start): what the tab shows
// after that message belongs to another branch and goes. A parent not shown (an older
// page) means nothing shown is on the new branch; the older messages stay a click away.
export function cutAfter(parentId) {
  const shown = shownPath();
  const at = parentId ? shown.findIndex((b) => b.dataset.id === parentId) : -1;
  if (at >= 0 && at === shown.length - 1) return;
  for (const b of shown.slice(at + 1)) {
    const id = b.dataset.id;
    store.forget(id);
    bubbles.delete(id);
    dirty.delete(id);
    if (app.client) app.client.forget(id);
    b.remove();
  }
  if (parentId && at < 0 && !els.messages.querySelector('.load-older')) els.messages.prepend(olderButton());
  const last = lastShown();
  if (last) renderActions(last);
}

// The one place that builds a bubble's row of action buttons, from its role and status
// (called again whenever the status changes). `m.feedback`: the saved thumbs, if any;
// the thumbs already shown are kept.
export function renderActions(b, m = {}) {
  const row = b.querySelector('.message-actions');
  const { role, status, id } = b.dataset;
  const feedback = row.querySelector('.feedback');
  const actions = [];
  if (role === 'assistant') {
    actions.push(copyButton());
    if (id && status !== 'streaming') actions.push(feedback || Feedback.controls(id, m.feedback || null), ...Speech.controls(id), ...Voice.controls(id));
  } else if (status === 'queued') {
    const cancel = button('cancel-queued', null, gettext('Cancel this queued message'), () => app.cancelQueued(b));
    cancel.innerHTML = CANCEL_ICON;  // a constant
    cancel.append(el('span', 'cancel-label', gettext('Cancel')));
    cancel.title = gettext('Do not send it (its text goes back into an empty message box)');
    actions.push(cancel);
  }
  actions.push(...Branches.controls({
    id, role, status, siblings: store.siblings.get(id), content: store.raw.get(id),
    finishReason: b.dataset.finishReason, last: b === lastShown(),
  }));
  row.replaceChildren(...actions);
}

// Draws the text of a bubble from the raw text, never from what the DOM shows.
export function renderText(b, plain) {
  const node = b.querySelector('.message-text');
  const id = b.dataset.id;
  const raw = plain != null ? plain : store.text(id);
  const asMarkdown = b.dataset.role === 'assistant' && !els.chunkToggle.checked;
  node.classList.toggle('markdown', asMarkdown);
  if (asMarkdown) {
    Markdown.renderInto(node, raw, { streaming: b.dataset.status === 'streaming' });
  } else if (b.dataset.role === 'assistant') {
    // "Show chunks": plain text, one span per chunk frame, to see the chunking mode at work.
    node.replaceChildren(...(store.parts.get(id) || []).map((t) => el('span', 'chunk', t)));
  } else {
    node.textContent = raw;
  }
  if (b.dataset.status !== 'streaming') return;
  if (raw) Markdown.appendCursor(node);
  else node.append(writingIndicator());  // until the first chunk (sentence mode: a while)
}

// "Writing…" with three pulsing dots, drawn by CSS (nothing added to the text).
function writingIndicator() {
  const w = el('span', 'writing-indicator');
  w.setAttribute('role', 'img');
  w.setAttribute('aria-label', gettext('The model is writing'));
  w.dataset.label = gettext('Writing');  // shown by CSS, so not in the message's text
  for (let i = 0; i < 3; i += 1) w.append(el('span', 'writing-dot'));
  return w;
}

// While an answer streams, markdown is re-rendered at most once per animation frame.
export function scheduleRender(id) {
  dirty.add(id);
  if (!frame) frame = requestAnimationFrame(flushRender);
}

function flushRender() {
  cancelAnimationFrame(frame);
  frame = 0;
  for (const id of dirty) {
    const b = bubbles.get(id);
    if (b) renderText(b);
  }
  dirty.clear();
  autoScroll();
}

// Now, not at the next frame (an answer's end: the final text is there with the status).
export function renderNow(b) {
  dirty.delete(b.dataset.id);
  renderText(b);
}

export function rerenderAll() {
  for (const b of bubbles.values()) if (b.dataset.role === 'assistant') renderText(b);
}

// Status tag, model and timings under a bubble; `info` is a message or an end frame.
export function renderMeta(b, info) {
  const meta = b.querySelector('.message-meta');
  const status = info.status || b.dataset.status;
  const model = info.model || b.dataset.model;
  const parts = [];
  if (b.dataset.role === 'assistant' && model) parts.push(model);
  if (info.ttft_ms != null) {
    parts.push(interpolate(gettext('first token %(ms)s ms'), { ms: formatNumber(Math.round(info.ttft_ms)) }, true));
  }
  if (info.duration_ms != null) {
    const seconds = formatNumber(info.duration_ms / 1000, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    parts.push(interpolate(gettext('%(seconds)s s'), { seconds }, true));
  }
  meta.replaceChildren();
  if (TAGS[status]) meta.append(el('span', `message-tag tag-${status}`, TAGS[status]()));
  if (parts.length) {
    const stats = meta.appendChild(el('span', 'message-stats', parts.join(' · ')));
    const u = info.usage;
    if (u && u.total_tokens != null) {
      stats.title = interpolate(gettext('%(input)s tokens in, %(output)s out (%(total)s total)'), {
        input: formatNumber(u.input_tokens), output: formatNumber(u.output_tokens), total: formatNumber(u.total_tokens),
      }, true);
    }
  }
  if (info.error) meta.append(el('div', 'message-error', info.error));
}

export function announce(text) {
  // Cleared first, so the same words twice in a row are still announced.
  els.announcer.textContent = '';
  setTimeout(() => { els.announcer.textContent = text; }, 50);
}

// The history holds the newest messages; older ones come a page at a time.
export function olderButton() {
  const label = gettext('Show earlier messages');
  const b = button('load-older', label, label, () => {
    const first = els.messages.querySelector('.message[data-id]');
    if (first && sendFrame({ type: 'load_older', before: first.dataset.id })) b.disabled = true;
  });
  return b;
}

// Copy, feedback, branch switches and read-aloud: clicks inside the message list.
export function onMessagesClick(e) {
  if (Feedback.onClick(e.target, (text, failed) => (failed ? showNotice(text) : announce(text)))) return;
  if (Branches.onClick(e.target, (f) => sendFrame(f) || showNotice(gettext('Not connected: try again in a moment.')),
    (id) => store.text(id))) return;
  if (Speech.onClick(e.target, (id) => store.text(id))) return;
  const btn = e.target.closest('.copy-button, .code-copy');
  if (!btn || !els.messages.contains(btn)) return;
  if (btn.classList.contains('copy-button')) {
    const b = btn.closest('.message');
    copyWithFeedback(btn, store.text(b.dataset.id), announce);
  } else {
    const code = btn.closest('.code-block').querySelector('pre code, pre');
    copyWithFeedback(btn, code ? code.textContent : '', announce);
  }
}

// Everything shown per message goes (a history frame, a conversation closed).
export function resetView() {
  store.reset();
  bubbles.clear();
  dirty.clear();
  updateBusy();
}

// The list is an aria-live region; while an answer streams it is marked busy so that a
// screen reader does not read every token. The end is announced by #answer-announcer.
export function updateBusy() {
  if (store.busy) els.messages.setAttribute('aria-busy', 'true');
  else els.messages.removeAttribute('aria-busy');
}

export function autoScroll() {
  if (state.stickToBottom) els.messages.scrollTop = els.messages.scrollHeight;
}

export const scrollToBottom = () => { state.stickToBottom = true; autoScroll(); };
