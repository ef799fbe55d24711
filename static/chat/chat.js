// Chat page: a conversation sidebar (JSON API) and one WebSocket per open conversation.
// The wire contract is the project's DESIGN (WebSocket and HTTP contract).
// Loaded after util.js, markdown.js and speech.js. The raw text of every message is kept here
// (state.raw); the DOM is only a rendering of it: user text as textContent, model text
// through ChatMarkdown (marked -> DOMPurify -> external images blocked).
'use strict';

(function () {
  const configEl = document.getElementById('chat-config');
  const config = Object.assign({
    model_name: '', max_message_chars: 4000, chunk_modes: ['token', 'line', 'sentence', 'clause'],
    initial_conversation_id: '', api_base: '/api/conversations/', ws_base: '/ws/chat/',
  }, configEl ? JSON.parse(configEl.textContent) : {});

  const $ = (id) => document.getElementById(id);
  const els = {
    layout: $('chat-app'), list: $('conversation-list'), listEmpty: $('conversation-empty'),
    newChat: $('new-chat'), sidebarToggle: $('sidebar-toggle'), title: $('conversation-title'),
    status: $('connection-status'), messages: $('messages'), composer: $('composer'),
    input: $('message-input'), send: $('send-button'), stop: $('stop-button'),
    chunking: $('chunking-select'), chunkToggle: $('chunk-hint-toggle'), hint: $('composer-hint'),
    readAloud: $('read-aloud-toggle'), announcer: $('answer-announcer'),
  };
  // Fallbacks keep the chat usable if a helper script failed to load.
  const Markdown = window.ChatMarkdown || { renderInto: (node, raw) => { node.textContent = raw; }, appendCursor() {} };
  const Speech = window.ChatSpeech || { init() {}, onChunk() {}, onEnd() {}, cancel() {} };
  const Feedback = window.ChatFeedback || { controls: () => document.createComment(''), onClick: () => false };
  const { el, button, uuid, loginUrl, timeElement, copyWithFeedback, request } = window.ChatUtil;

  const CHUNK_KEY = 'chat.chunking';
  const PING_MS = 25000;
  const MAX_BACKOFF_MS = 15000;
  // The server's error codes (chat/contract.py, ErrorCode); a test keeps the two lists equal.
  const ERROR_CODES = Object.freeze({
    BAD_FRAME: 'bad_frame', TOO_LONG: 'too_long', BUSY: 'busy', RATE_LIMITED: 'rate_limited', QUOTA_EXCEEDED: 'quota_exceeded',
    NOT_FOUND: 'not_found', READ_ONLY: 'read_only', UNAVAILABLE: 'unavailable', SERVER_ERROR: 'server_error',
    MODEL_ERROR: 'model_error', MODEL_UNAVAILABLE: 'model_unavailable', TIMEOUT: 'timeout',
    INTERRUPTED: 'interrupted', NOT_AUTHENTICATED: 'not_authenticated', BAD_REQUEST: 'bad_request',
    INVALID: 'invalid', NOT_ALLOWED: 'not_allowed',
  });
  const C = ERROR_CODES;
  const REJECTED_CODES = new Set([C.BAD_FRAME, C.TOO_LONG, C.BUSY, C.RATE_LIMITED, C.QUOTA_EXCEEDED, C.NOT_FOUND]);  // message not saved
  const STATUS_TEXT = { idle: 'Not connected', connecting: 'Connecting…', connected: 'Connected',
    reconnecting: 'Reconnecting…', closed: 'Closed' };
  const TAGS = { stopped: 'stopped', error: 'error', failed: 'not sent' };
  const ENDINGS = { complete: 'Answer complete', stopped: 'Answer stopped', error: 'Answer failed' };
  const COPY_ICON = '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false">' +
    '<rect x="9" y="9" width="11" height="11" rx="2" fill="none" stroke="currentColor" stroke-width="2"/>' +
    '<path d="M5 15V5a2 2 0 0 1 2-2h8" fill="none" stroke="currentColor" stroke-width="2"/></svg>';

  const state = {
    conversations: [], currentId: null, ws: null, reconnectTimer: null, pingTimer: null,
    ready: false,          // the current socket has delivered its history frame
    attempts: 0,           // consecutive failed connections, for the back-off
    creating: false,       // a POST for a new conversation is in flight
    bubbles: new Map(),    // message id -> .message element
    streaming: new Set(),  // ids of assistant answers in progress
    nextSeq: new Map(),    // message id -> next expected chunk seq on this socket
    raw: new Map(),        // message id -> its full text so far (markdown for answers)
    parts: new Map(),      // message id -> the pieces it arrived in (for "Show chunks")
    dirty: new Set(),      // message ids to re-render at the next animation frame
    frame: 0,              // requestAnimationFrame handle, 0 when none is pending
    pending: new Map(),    // client_id -> {content, el, sent, failed}: not yet confirmed
    stickToBottom: true,
  };

  // ---- helpers --------------------------------------------------------------

  // Wraps an async action so that a failure becomes a readable notice.
  const guarded = (what, fn) => async (...args) => {
    try {
      await fn(...args);
    } catch (e) {
      showNotice(`Could not ${what}: ${e.message}`);
    }
  };

  const convPath = (id) => `${encodeURIComponent(id)}/`;

  function idFromPath() {
    const m = location.pathname.match(/^\/c\/([^/]+)\/?$/);
    return m ? decodeURIComponent(m[1]) : null;
  }

  // ---- JSON API -------------------------------------------------------------

  const api = (path, method, body) => request(config.api_base + path, method, body);

  // ---- sidebar --------------------------------------------------------------

  function renderConversations() {
    els.list.replaceChildren();
    for (const c of state.conversations) {
      const title = c.title || 'Untitled';
      const li = el('li', 'conversation-item');
      li.dataset.id = c.id;
      const open = button('conversation-open', title, `Open “${title}”`, () => openConversation(c.id, true));
      if (c.id === state.currentId) {
        li.classList.add('active');
        open.setAttribute('aria-current', 'page');
      }
      li.append(open,
        button('icon-button conversation-rename', '✎', `Rename “${title}”`, () => renameConversation(c)),
        button('icon-button conversation-delete', '×', `Delete “${title}”`, () => deleteConversation(c)));
      els.list.append(li);
    }
    els.listEmpty.hidden = state.conversations.length > 0;
    const current = state.conversations.find((c) => c.id === state.currentId);
    if (current) els.title.textContent = current.title || 'Untitled';
    else if (!state.currentId) els.title.textContent = 'New chat';
  }

  const loadConversations = guarded('load your conversations', async () => {
    state.conversations = (await api('')).conversations || [];
    renderConversations();
  });

  async function createConversation() {
    const c = await api('', 'POST', {});
    state.conversations = [c, ...state.conversations.filter((x) => x.id !== c.id)];
    return c;
  }

  const newChat = guarded('start a new chat', async () => {
    openConversation((await createConversation()).id, true);
    els.input.focus();
  });

  const renameConversation = guarded('rename the conversation', async (c) => {
    const title = (window.prompt('New title for this conversation:', c.title || '') || '').trim();
    if (!title) return;
    const data = await api(convPath(c.id), 'PATCH', { title });
    c.title = (data && data.title) || title;
    renderConversations();
  });

  const deleteConversation = guarded('delete the conversation', async (c) => {
    if (!window.confirm(`Delete “${c.title || 'Untitled'}”? This cannot be undone.`)) return;
    await api(convPath(c.id), 'DELETE');
    state.conversations = state.conversations.filter((x) => x.id !== c.id);
    if (c.id === state.currentId) {
      closeConversation();
      history.pushState({}, '', '/');
    }
    renderConversations();
  });

  function setSidebarOpen(open) {  // only visible as a drawer on narrow screens
    els.layout.classList.toggle('sidebar-open', open);
    els.sidebarToggle.setAttribute('aria-expanded', String(open));
  }

  // ---- message view ---------------------------------------------------------

  function appendToMessages(node) {
    const placeholder = els.messages.querySelector('.empty-state');
    if (placeholder) placeholder.remove();
    els.messages.append(node);
    autoScroll();
  }

  const showPlaceholder = (text) => els.messages.replaceChildren(el('p', 'empty-state', text));

  function showNotice(message) {
    const notice = el('div', 'error-notice');
    notice.append(el('span', 'error-notice-text', message),
      button('icon-button', '×', 'Dismiss this notice', () => notice.remove()));
    appendToMessages(notice);
    scrollToBottom();
  }

  function copyButton() {
    const b = button('copy-button', null, 'Copy answer', null);
    b.innerHTML = COPY_ICON;  // a constant, not model text
    b.append(el('span', 'copy-label', 'Copy'));
    b.title = 'Copy the answer (markdown)';
    return b;
  }

  // `before`: insert above that node (older messages), else append.
  function addBubble(m, before = null) {
    const b = el('div', 'message');
    Object.assign(b.dataset, { id: m.id || '', role: m.role, status: m.status || 'complete', model: m.model || '' });
    const who = { user: 'You', assistant: 'Assistant' }[m.role] || m.role;
    const head = el('div', 'message-head');
    head.append(el('span', 'message-role', who), timeElement(m.created));
    const footer = el('div', 'message-footer');
    footer.append(el('div', 'message-meta'));
    if (m.role === 'assistant') footer.append(copyButton());
    if (m.role === 'assistant' && m.id && m.status !== 'streaming') {
      footer.append(Feedback.controls(m.id, m.feedback));
    }
    b.append(head, el('div', 'message-text'), footer);
    if (m.id) {
      state.bubbles.set(m.id, b);
      setRaw(m.id, m.content || '');
    }
    if (m.status === 'streaming') {
      state.streaming.add(m.id);
      b.setAttribute('aria-busy', 'true');  // screen readers get the answer once it is done
    } else {
      renderMeta(b, m);
    }
    renderText(b, m.id ? null : m.content);
    if (before) els.messages.insertBefore(b, before);
    else appendToMessages(b);
    return b;
  }

  function setRaw(id, text) {
    state.raw.set(id, text);
    state.parts.set(id, text ? [text] : []);
  }

  // Draws the text of a bubble from the raw text, never from what the DOM shows.
  function renderText(b, plain) {
    const node = b.querySelector('.message-text');
    const id = b.dataset.id;
    const raw = plain != null ? plain : state.raw.get(id) || '';
    const asMarkdown = b.dataset.role === 'assistant' && !els.chunkToggle.checked;
    node.classList.toggle('markdown', asMarkdown);
    if (asMarkdown) {
      Markdown.renderInto(node, raw);
    } else if (b.dataset.role === 'assistant') {
      // "Show chunks": plain text, one span per chunk frame, to see the chunking mode at work.
      node.replaceChildren(...(state.parts.get(id) || []).map((t) => el('span', 'chunk', t)));
    } else {
      node.textContent = raw;
    }
    if (b.dataset.status === 'streaming') Markdown.appendCursor(node);
  }

  // While an answer streams, markdown is re-rendered at most once per animation frame.
  function scheduleRender(id) {
    state.dirty.add(id);
    if (!state.frame) state.frame = requestAnimationFrame(flushRender);
  }

  function flushRender() {
    cancelAnimationFrame(state.frame);
    state.frame = 0;
    for (const id of state.dirty) {
      const b = state.bubbles.get(id);
      if (b) renderText(b);
    }
    state.dirty.clear();
    autoScroll();
  }

  function rerenderAll() {
    for (const b of state.bubbles.values()) if (b.dataset.role === 'assistant') renderText(b);
  }

  // Status tag, model and timings under a bubble; `info` is a message or an end frame.
  function renderMeta(b, info) {
    const meta = b.querySelector('.message-meta');
    const status = info.status || b.dataset.status;
    const model = info.model || b.dataset.model;
    const parts = [];
    if (b.dataset.role === 'assistant' && model) parts.push(model);
    if (info.ttft_ms != null) parts.push(`first token ${Math.round(info.ttft_ms)} ms`);
    if (info.duration_ms != null) parts.push(`${(info.duration_ms / 1000).toFixed(1)} s`);
    meta.replaceChildren();
    if (TAGS[status]) meta.append(el('span', `message-tag tag-${status}`, TAGS[status]));
    if (parts.length) {
      const stats = meta.appendChild(el('span', 'message-stats', parts.join(' · ')));
      const u = info.usage;
      if (u && u.total_tokens != null) {
        stats.title = `${u.input_tokens} tokens in, ${u.output_tokens} out (${u.total_tokens} total)`;
      }
    }
    if (info.error) meta.append(el('div', 'message-error', info.error));
  }

  function announce(text) {
    // Cleared first, so the same words twice in a row are still announced.
    els.announcer.textContent = '';
    setTimeout(() => { els.announcer.textContent = text; }, 50);
  }

  // ---- copy -----------------------------------------------------------------

  function onMessagesClick(e) {
    if (Feedback.onClick(e.target, (text, failed) => (failed ? showNotice(text) : announce(text)))) return;
    const btn = e.target.closest('.copy-button, .code-copy');
    if (!btn || !els.messages.contains(btn)) return;
    if (btn.classList.contains('copy-button')) {
      const b = btn.closest('.message');
      copyWithFeedback(btn, state.raw.get(b.dataset.id) || '', announce);
    } else {
      const code = btn.closest('.code-block').querySelector('pre code, pre');
      copyWithFeedback(btn, code ? code.textContent : '', announce);
    }
  }

  function resetStreamState() {
    for (const collection of [state.bubbles, state.streaming, state.nextSeq, state.raw,
      state.parts, state.dirty]) collection.clear();
    updateBusy();
  }

  // The list is an aria-live region; while an answer streams it is marked busy so that a
  // screen reader does not read every token. The end is announced by #answer-announcer.
  function updateBusy() {
    if (state.streaming.size) els.messages.setAttribute('aria-busy', 'true');
    else els.messages.removeAttribute('aria-busy');
  }

  function autoScroll() {
    if (state.stickToBottom) els.messages.scrollTop = els.messages.scrollHeight;
  }

  const scrollToBottom = () => { state.stickToBottom = true; autoScroll(); };

  // ---- composer -------------------------------------------------------------

  function updateComposer() {
    const busy = state.streaming.size > 0;
    els.stop.hidden = !busy;
    els.send.hidden = busy;
    els.send.disabled = busy || els.input.disabled || state.creating;
    els.input.placeholder = busy ? 'Write your next message…' : 'Message (Enter to send)';
    updateBusy();
    if (!busy && els.hint.dataset.busyHint) {
      delete els.hint.dataset.busyHint;
      checkLength();
    }
  }

  function busyHint() {
    els.hint.dataset.busyHint = '1';
    els.hint.classList.remove('over');
    els.hint.textContent = 'An answer is still coming: wait for it, or press Stop.';
  }

  function setComposerEnabled(enabled) {
    els.input.disabled = els.chunking.disabled = !enabled;
    updateComposer();
  }

  function checkLength() {
    const n = els.input.value.length;
    const max = config.max_message_chars;
    const fmt = (x) => x.toLocaleString();
    els.hint.classList.toggle('over', n > max);
    if (n > max) {
      els.hint.textContent = `Your message is ${fmt(n)} characters; the limit is ${fmt(max)}. ` +
        `Please remove ${fmt(n - max)}.`;
    } else {
      els.hint.textContent = n > max * 0.8 ? `${fmt(n)} / ${fmt(max)}` : '';
    }
    return n <= max;
  }

  function autoGrow() {
    els.input.style.height = 'auto';
    els.input.style.height = `${els.input.scrollHeight + 2}px`;  // CSS max-height caps it
  }

  async function submitMessage() {
    const content = els.input.value.trim();
    if (state.streaming.size) return busyHint();
    if (!content || els.input.disabled || state.creating) return;
    if (!checkLength()) return;
    if (!state.currentId) {
      state.creating = true;
      updateComposer();
      try {
        openConversation((await createConversation()).id, true);
      } catch (e) {
        showNotice(`Could not start a new chat: ${e.message}`);
        return;
      } finally {
        state.creating = false;
        updateComposer();
      }
    }
    // Optimistic bubble; the server's `message` frame carrying our client_id confirms it.
    const clientId = uuid();
    const p = { content, el: addBubble({ role: 'user', content, status: 'pending' }), sent: false, failed: false };
    p.el.dataset.clientId = clientId;
    state.pending.set(clientId, p);
    els.input.value = '';
    autoGrow();
    checkLength();
    scrollToBottom();
    if (state.ready) sendUserMessage(clientId, p);  // otherwise sent when history arrives
  }

  function sendUserMessage(clientId, p) {
    if (sendFrame({ type: 'user_message', content: p.content, client_id: clientId })) p.sent = true;
  }

  // ---- WebSocket ------------------------------------------------------------

  function setStatus(s, text) {
    els.status.dataset.state = s;
    els.status.textContent = text || STATUS_TEXT[s];
  }

  function sendFrame(frame) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    state.ws.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    if (!state.currentId) return;
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const sock = new WebSocket(`${proto}://${location.host}${config.ws_base}${convPath(state.currentId)}` +
      `?chunk=${encodeURIComponent(els.chunking.value)}`);
    setStatus(state.attempts ? 'reconnecting' : 'connecting');
    Object.assign(state, { ws: sock, ready: false, reconnectTimer: null });
    // Each handler checks `sock === state.ws`, so a socket we have replaced stays silent.
    sock.onopen = () => {
      if (sock !== state.ws) return;
      setStatus('connected');
      state.pingTimer = setInterval(() => sendFrame({ type: 'ping' }), PING_MS);
    };
    sock.onmessage = (ev) => { if (sock === state.ws) handleFrame(ev.data); };
    sock.onclose = (ev) => { if (sock === state.ws) onClose(ev); };  // `error` always precedes a close
  }

  function disconnect() {
    clearTimeout(state.reconnectTimer);
    clearInterval(state.pingTimer);
    const sock = state.ws;
    Object.assign(state, { ws: null, ready: false, reconnectTimer: null, pingTimer: null });
    if (sock) sock.close(1000);  // a no-op on a socket that is already closed
  }

  function onClose(ev) {
    disconnect();
    if (ev.code === 4401) {
      setStatus('closed', 'Logged out');
      location.href = loginUrl();
    } else if (ev.code === 4403) {
      setStatus('closed');
      resetStreamState();
      state.pending.clear();
      els.messages.replaceChildren();
      showNotice('Conversation not found.');
      setComposerEnabled(false);
    } else {
      // The next connection's history frame rebuilds the view, streaming answers included.
      // Closed for a policy (1008: too many frames or sockets; its error frame said why):
      // wait the longest backoff before trying again.
      if (ev.code === 1008) state.attempts = Math.max(state.attempts, 4);
      const delay = Math.min(1000 * 2 ** state.attempts, MAX_BACKOFF_MS);
      state.attempts += 1;
      setStatus('reconnecting', `Reconnecting in ${Math.round(delay / 1000)} s…`);
      state.reconnectTimer = setTimeout(connect, delay);
    }
  }

  function openConversation(id, push) {
    setSidebarOpen(false);
    if (id === state.currentId && state.ws) return;
    closeConversation();
    state.currentId = id;
    state.attempts = 0;
    if (push) history.pushState({ conversationId: id }, '', `/c/${convPath(id)}`);
    showPlaceholder('Loading…');
    renderConversations();
    connect();
  }

  function closeConversation() {
    Speech.cancel();
    disconnect();
    state.currentId = null;
    state.pending.clear();
    resetStreamState();
    setStatus('idle');
    showPlaceholder('Start a new chat, or pick one from the list.');
    setComposerEnabled(true);
  }

  // ---- server frames --------------------------------------------------------

  function handleFrame(raw) {
    let f = null;
    try { f = JSON.parse(raw); } catch (e) { /* reported below */ }
    const handlers = { history: onHistory, older: onOlder, message: onMessage, start: onStart,
      chunk: onChunk, end: onEnd, error: onError, pong: () => {} };
    if (f && handlers[f.type]) handlers[f.type](f);
    else console.warn('Ignoring an unknown frame', raw);
  }

  function onHistory(f) {
    state.attempts = 0;
    resetStreamState();
    els.messages.replaceChildren();
    const messages = f.messages || [];
    messages.forEach((m) => addBubble(m));
    if (f.has_more) els.messages.prepend(olderButton());
    if (config.chunk_modes.includes(f.chunking)) els.chunking.value = f.chunking;
    if (f.conversation) {
      const c = state.conversations.find((x) => x.id === f.conversation.id);
      if (c) c.title = f.conversation.title;
      els.title.textContent = f.conversation.title || 'Untitled';
      renderConversations();
    }
    state.ready = true;
    resendPending(messages);
    if (!els.messages.children.length) showPlaceholder('Say something to start.');
    updateComposer();
    scrollToBottom();
  }

  // The history holds the newest messages; older ones come a page at a time.
  function olderButton() {
    const b = button('load-older', 'Show earlier messages', 'Show earlier messages', () => {
      const first = els.messages.querySelector('.message[data-id]');
      if (first && sendFrame({ type: 'load_older', before: first.dataset.id })) b.disabled = true;
    });
    return b;
  }

  function onOlder(f) {
    const b = els.messages.querySelector('.load-older');
    if (!b) return;
    const m = els.messages;
    const fromBottom = m.scrollHeight - m.scrollTop;  // keep what the reader sees in place
    const anchor = b.nextSibling;
    (f.messages || []).forEach((msg) => { if (!state.bubbles.has(msg.id)) addBubble(msg, anchor); });
    if (f.has_more) b.disabled = false;
    else b.remove();
    m.scrollTop = m.scrollHeight - fromBottom;
  }

  // Messages typed before this socket was ready, or sent on a socket that dropped before
  // the server confirmed them. History carries each user message's client_id: a pending
  // message whose client_id is in it was saved (the history shows it, so its optimistic
  // bubble goes); the others are resent with the same client_id (the server treats a
  // resend idempotently, so one saved in the meantime is confirmed, not duplicated).
  function resendPending(history) {
    const saved = new Set(history.map((m) => m.client_id).filter(Boolean));
    for (const [clientId, p] of state.pending) {
      if (saved.has(clientId) || p.failed) {
        state.pending.delete(clientId);
      } else {
        appendToMessages(p.el);
        sendUserMessage(clientId, p);
      }
    }
  }

  function onMessage(f) {
    const p = f.client_id && state.pending.get(f.client_id);
    if (!p) {
      if (!state.bubbles.has(f.id)) addBubble(f);  // e.g. typed in another tab
      return;
    }
    state.pending.delete(f.client_id);
    Object.assign(p.el.dataset, { id: f.id, status: f.status || 'complete' });
    state.bubbles.set(f.id, p.el);
    setRaw(f.id, f.content != null ? f.content : p.content);
    if (f.created) p.el.querySelector('.message-time').replaceWith(timeElement(f.created));
    renderMeta(p.el, f);
  }

  function onStart(f) {
    const b = state.bubbles.get(f.message_id) ||
      addBubble({ id: f.message_id, role: 'assistant', content: '', status: 'streaming' });
    b.dataset.status = 'streaming';
    b.setAttribute('aria-busy', 'true');
    if (f.model) b.dataset.model = f.model;
    state.streaming.add(f.message_id);
    updateComposer();
    scheduleRender(f.message_id);
  }

  function onChunk(f) {
    const id = f.message_id;
    const expected = state.nextSeq.has(id) ? state.nextSeq.get(id) : 0;
    if (f.seq < expected) return console.warn(`Duplicate chunk seq ${f.seq} for message ${id}; ignored.`);
    // The server sends every chunk of a connection once and in order, whatever the
    // channel layer lost (chat/subscriber.py): a gap here would be a server bug.
    if (f.seq > expected) console.warn(`Chunk gap for message ${id}: expected seq ${expected}, got ${f.seq}.`);
    state.nextSeq.set(id, f.seq + 1);
    if (!state.bubbles.has(id)) onStart({ message_id: id });
    state.raw.set(id, (state.raw.get(id) || '') + f.text);
    if (!state.parts.has(id)) state.parts.set(id, []);
    state.parts.get(id).push(f.text);  // kept so "Show chunks" can outline each chunk frame
    Speech.onChunk(id, f.text, els.chunking.value);
    scheduleRender(id);
  }

  function onEnd(f) {
    const id = f.message_id;
    const b = state.bubbles.get(id);
    state.streaming.delete(id);
    if (b) {
      b.dataset.status = f.status;
      b.removeAttribute('aria-busy');
      if (!b.querySelector('.feedback')) b.querySelector('.message-footer').append(Feedback.controls(id, null));
      renderMeta(b, f);
      state.dirty.delete(id);
      renderText(b);  // now, not at the next frame: the final text is there with the status
      announce(ENDINGS[f.status] || `Answer ${f.status}`);
    }
    Speech.onEnd(id);
    updateComposer();
    autoScroll();
    loadConversations();  // the title and the order may have changed
  }

  function onError(f) {
    showNotice(f.message || `Something went wrong (${f.code}).`);
    if (!REJECTED_CODES.has(f.code)) return;
    // The user message was refused: mark it, and give its text back if the box is empty.
    for (const p of state.pending.values()) {
      if (!p.sent || p.failed) continue;
      p.failed = true;
      p.el.dataset.status = 'failed';
      renderMeta(p.el, { status: 'failed' });
      if (!els.input.value) {
        els.input.value = p.content;
        autoGrow();
        checkLength();
      }
    }
  }

  // ---- wiring ---------------------------------------------------------------

  try {
    const saved = localStorage.getItem(CHUNK_KEY);
    if (config.chunk_modes.includes(saved)) els.chunking.value = saved;
  } catch (e) { /* storage unavailable (private mode): keep the default */ }
  els.chunking.addEventListener('change', () => {
    try { localStorage.setItem(CHUNK_KEY, els.chunking.value); } catch (e) { /* not remembered */ }
    sendFrame({ type: 'set_chunking', mode: els.chunking.value });  // a reconnect uses ?chunk=
  });
  els.chunkToggle.addEventListener('change', () => {
    els.messages.classList.toggle('show-chunks', els.chunkToggle.checked);
    rerenderAll();
  });
  els.messages.addEventListener('click', onMessagesClick);
  Speech.init(els.readAloud);
  els.composer.addEventListener('submit', (e) => { e.preventDefault(); submitMessage(); });
  els.input.addEventListener('keydown', (e) => {
    // isComposing: the Enter that confirms an IME conversion (e.g. Japanese) must not send.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submitMessage();
    }
  });
  els.input.addEventListener('input', () => { autoGrow(); checkLength(); });
  els.stop.addEventListener('click', () => {
    Speech.cancel([...state.streaming]);
    if (!sendFrame({ type: 'stop' })) showNotice('Not connected: the answer cannot be stopped right now.');
  });
  els.newChat.addEventListener('click', newChat);
  els.sidebarToggle.addEventListener('click', () => setSidebarOpen(!els.layout.classList.contains('sidebar-open')));
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') setSidebarOpen(false); });
  els.messages.addEventListener('scroll', () => {
    const m = els.messages;
    state.stickToBottom = m.scrollHeight - m.scrollTop - m.clientHeight < 40;
  });
  window.addEventListener('popstate', () => {
    const id = idFromPath();
    if (id) openConversation(id, false);
    else { closeConversation(); renderConversations(); }
  });

  closeConversation();
  loadConversations();
  const initial = config.initial_conversation_id || idFromPath();
  if (initial) openConversation(initial, false);
}());
