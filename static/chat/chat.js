// Chat page: a conversation sidebar (JSON API) and one WebSocket per open conversation.
// The wire contract is the project's DESIGN (WebSocket and HTTP contract).
// Loaded after util.js, markdown.js, speech.js, dialogs.js, feedback.js and branches.js. The raw text of every message is kept here
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
  const Dialogs = window.ChatDialogs;
  // Fallbacks keep the chat usable if a helper script failed to load.
  const Markdown = window.ChatMarkdown || { renderInto: (node, raw) => { node.textContent = raw; }, appendCursor() {} };
  const Voice = window.ChatVoice || { init() {}, connected() {}, onAudio() {}, onNotice() {}, hush() {}, controls: () => [] };
  const Speech = window.ChatSpeech || { init() {}, onChunk() {}, onEnd() {}, cancel() {}, controls: () => [], onClick: () => false };
  const Feedback = window.ChatFeedback || { controls: () => document.createComment(''), onClick: () => false };
  const Branches = window.ChatBranches || { controls: () => [], onClick: () => false };
  const { el, button, uuid, csrfToken, loginUrl, timeElement, copyWithFeedback, request } = window.ChatUtil;

  const CHUNK_KEY = 'chat.chunking';
  const PING_MS = 25000;
  const MAX_BACKOFF_MS = 15000;
  // The server's error codes (chat/errors.py, ErrorCode); a test keeps the two lists equal.
  const ERROR_CODES = Object.freeze({
    BAD_FRAME: 'bad_frame', TOO_LONG: 'too_long', BUSY: 'busy', RATE_LIMITED: 'rate_limited', QUOTA_EXCEEDED: 'quota_exceeded',
    STORAGE_FULL: 'storage_full', SPEECH_FAILED: 'speech_failed',
    NOT_FOUND: 'not_found', READ_ONLY: 'read_only', UNAVAILABLE: 'unavailable', SERVER_ERROR: 'server_error',
    MODEL_ERROR: 'model_error', MODEL_UNAVAILABLE: 'model_unavailable', TIMEOUT: 'timeout',
    MODEL_UNREACHABLE: 'model_unreachable',
    INTERRUPTED: 'interrupted', NOT_AUTHENTICATED: 'not_authenticated', BAD_REQUEST: 'bad_request',
    INVALID: 'invalid', NOT_ALLOWED: 'not_allowed', CSRF_FAILED: 'csrf_failed',
  });
  const C = ERROR_CODES;
  const REJECTED_CODES = new Set([C.BAD_FRAME, C.TOO_LONG, C.BUSY, C.RATE_LIMITED, C.QUOTA_EXCEEDED, C.STORAGE_FULL, C.NOT_FOUND]);  // message not saved
  // `idle` (no conversation open) shows nothing; "Not connected" only after a failure.
  const STATUS_TEXT = { idle: '', connecting: 'Connecting…', connected: 'Connected',
    reconnecting: 'Reconnecting…', closed: 'Closed' };
  const TAGS = { stopped: 'stopped', error: 'error', failed: 'not sent', queued: 'queued' };
  const UNDO_MS = 6000;  // a deleted conversation can be restored for this long
  const BUSY_RETRIES = 5;  // `busy` with no answer in sight: retries before giving up
  const ENDINGS = { complete: 'Answer complete', stopped: 'Answer stopped', error: 'Answer failed' };
  const COPY_ICON = '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false">' +
    '<rect x="9" y="9" width="11" height="11" rx="2" fill="none" stroke="currentColor" stroke-width="2"/>' +
    '<path d="M5 15V5a2 2 0 0 1 2-2h8" fill="none" stroke="currentColor" stroke-width="2"/></svg>';
  const svg = window.ChatUtil.icon;
  const ICONS = {
    rename: svg('M12 20h9M16.5 3.5a2.12 2.12 0 0 1 3 3L7 19l-4 1 1-4z'),
    delete: svg('M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6M10 11v6M14 11v6'),
    cancel: svg('M18 6 6 18M6 6l12 12'),
    // Pin: Lucide's (ISC); archive and unarchive: Feather's box, the second with an arrow out.
    pin: svg('M12 17v5M9 10.76a2 2 0 0 1-1.11 1.79l-1.78.9A2 2 0 0 0 5 15.24V16a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-.76a2 2 0 0 0-1.11-1.79l-1.78-.9A2 2 0 0 1 15 10.76V7a1 1 0 0 1 1-1 2 2 0 0 0 0-4H8a2 2 0 0 0 0 4 1 1 0 0 1 1 1z'),
    archive: svg('M21 8v13H3V8M1 3h22v5H1zM10 12h4'),
    unarchive: svg('M21 8v13H3V8M1 3h22v5H1zM12 18v-6M9 15l3-3 3 3'),
  };

  const state = {
    conversations: [], currentId: null, ws: null, reconnectTimer: null, pingTimer: null,
    ready: false,          // the current socket has delivered its history frame
    attempts: 0,           // consecutive failed connections, for the back-off
    creating: false,       // a POST for a new conversation is in flight
    draft: null,           // the new chat shown while none is open: its settings, saved with its first message
    bubbles: new Map(),    // message id -> .message element
    streaming: new Set(),  // ids of assistant answers in progress
    nextSeq: new Map(),    // message id -> next expected chunk seq on this socket
    raw: new Map(),        // message id -> its full text so far (markdown for answers)
    siblings: new Map(),   // message id -> the ids of its versions, itself included
    parts: new Map(),      // message id -> the pieces it arrived in (for "Show chunks")
    dirty: new Set(),      // message ids to re-render at the next animation frame
    frame: 0,              // requestAnimationFrame handle, 0 when none is pending
    // client_id -> {content, el, sent, failed, queued, retries}: not yet confirmed, in the
    // order typed; `queued` ones wait for the answer that streams (one answer at a time).
    pending: new Map(),
    retryTimer: null,      // `busy` was answered while no answer was in sight: try again
    deleting: null,        // {c, toast}: a deleted conversation that can still be restored
    statusTimer: null,     // counts down to the next reconnection attempt
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

  const iconButton = (className, icon, label, onClick) => {
    const b = button(`icon-button ${className}`, null, label, onClick);
    b.innerHTML = icon;  // a constant
    b.title = label;
    return b;
  };

  // Today, Yesterday, Previous 7 days, Older: calendar days in the browser's time zone.
  const GROUPS = ['Today', 'Yesterday', 'Previous 7 days', 'Older'];
  function dateGroup(iso, now = new Date()) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return GROUPS[3];
    const day = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate());
    const days = Math.round((day(now) - day(d)) / 86400000);  // round: a DST day is 23 or 25 h
    if (days <= 0) return GROUPS[0];
    if (days === 1) return GROUPS[1];
    return days <= 7 ? GROUPS[2] : GROUPS[3];
  }

  const visibleConversations = () => state.conversations.filter(
    (c) => !(state.deleting && state.deleting.c.id === c.id));

  // #conversation-list holds one section per group: a heading and its list. The pinned
  // come first, as the server orders them (the most recently pinned first), then one
  // group per date; the archived list (?archived=1 on the page) is one group.
  const PINNED = 'Pinned';
  const ARCHIVED = 'Archived';
  const SECTIONS = [PINNED, ...GROUPS, ARCHIVED];
  function renderConversations() {
    const groups = new Map();
    for (const c of visibleConversations()) {
      const name = config.list_archived ? ARCHIVED : c.pinned ? PINNED : dateGroup(c.updated || c.created);
      if (!groups.has(name)) groups.set(name, []);
      groups.get(name).push(c);
    }
    els.list.replaceChildren(...SECTIONS.filter((g) => groups.has(g)).map((name) => {
      const section = el('section', 'conversation-group');
      const heading = el('h2', 'conversation-group-title', name);
      heading.id = `conversation-group-${SECTIONS.indexOf(name)}`;
      section.setAttribute('aria-labelledby', heading.id);
      const ul = el('ul', 'conversation-items');
      ul.append(...groups.get(name).map(conversationItem));
      section.append(heading, ul);
      return section;
    }));
    els.listEmpty.hidden = groups.size > 0;
    if (config.list_archived) els.listEmpty.textContent = 'No archived conversations.';
    const current = state.conversations.find((c) => c.id === state.currentId);
    if (current) els.title.textContent = current.title || 'Untitled';
    else if (!state.currentId && !els.messages.querySelector('.gone-state')) els.title.textContent = 'New chat';
  }

  // Each entry is a link to the conversation's own URL: a plain click opens it in this
  // page (pushState), a middle or modified click opens a new tab, and the link can be
  // copied. The full title is its tooltip (CSS cuts it with an ellipsis).
  function conversationItem(c) {
    const title = c.title || 'Untitled';
    const li = el('li', 'conversation-item');
    li.dataset.id = c.id;
    const open = el('a', 'conversation-open', title);
    open.href = `/c/${convPath(c.id)}`;
    open.title = title;
    open.addEventListener('click', (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      openConversation(c.id, true);
    });
    if (c.id === state.currentId) {
      li.classList.add('active');
      open.setAttribute('aria-current', 'page');
    }
    const actions = el('span', 'conversation-actions');
    if (c.archived) {
      actions.append(iconButton('conversation-unarchive', ICONS.unarchive, `Unarchive “${title}”`, () => unarchiveConversation(c)));
    } else {
      const pin = c.pinned ? `Unpin “${title}”` : `Pin “${title}”`;
      actions.append(
        iconButton(`conversation-pin${c.pinned ? ' is-pinned' : ''}`, ICONS.pin, pin, () => togglePin(c)),
        iconButton('conversation-archive', ICONS.archive, `Archive “${title}”`, () => archiveConversation(c)));
    }
    actions.append(
      iconButton('conversation-rename', ICONS.rename, `Rename “${title}”`, () => renameConversation(c)),
      iconButton('conversation-delete', ICONS.delete, `Delete “${title}”`, () => deleteConversation(c)));
    li.append(open, actions);
    return li;
  }

  // Deletes sent as the previous page of this tab went away may still be on their way.
  const LEFT_DELETED_KEY = 'chat.deletedOnLeave';
  const deletedOnLeave = new Set();
  try {
    const id = sessionStorage.getItem(LEFT_DELETED_KEY);
    sessionStorage.removeItem(LEFT_DELETED_KEY);
    if (id) deletedOnLeave.add(id);
  } catch (e) { /* no storage: the list may show it until the next load */ }

  // `started`: conversations with at least one message (an empty one, made by a script
  // or by an older page's "New chat", is no chat to list).
  const loadConversations = guarded('load your conversations', async () => {
    const query = new URLSearchParams({ started: '1' });
    if (config.list_source) query.set('source', config.list_source);
    if (config.list_archived) query.set('archived', '1');
    const listed = (await api(`?${query}`)).conversations || [];
    state.conversations = listed.filter((c) => !deletedOnLeave.has(c.id));
    renderConversations();
  });

  async function createConversation(body = {}) {
    const c = await api('', 'POST', body);
    state.conversations = [c, ...state.conversations.filter((x) => x.id !== c.id)];
    return c;
  }

  // "New chat" saves nothing: the page shows an empty conversation, and its first
  // message creates it (submitMessage). `settings`: {model, instructions, temperature}
  // (settings.js, from a preset; or {preset}: the id of one). With no instructions of
  // its own, it has the user's default ones (the settings page), as the server would
  // give it: shown in the Instructions dialog before the first message, and sent with it.
  function newChat(settings = {}) {
    setSidebarOpen(false);
    showNewChat(settings);
    if (location.pathname !== '/') history.pushState({}, '', '/');
    els.input.focus();
  }

  function showNewChat(settings = {}) {
    closeConversation();
    state.draft = { id: '', title: '', ...settings };
    if (!state.draft.instructions && state.draft.preset === undefined && config.default_instructions) {
      state.draft.instructions = config.default_instructions;
    }
    showPlaceholder('New chat: type your first message below.');
    announceConversation(state.draft);  // settings.js edits the draft's settings in place
    renderConversations();
  }

  // What the first message's POST says of the new conversation: the settings chosen.
  function draftBody() {
    const d = state.draft || {};
    const fields = ['preset', 'model', 'instructions', 'temperature', 'temporary'].filter((k) => d[k] !== undefined);
    return Object.fromEntries(fields.map((k) => [k, d[k]]));
  }

  const renameConversation = guarded('rename the conversation', async (c) => {
    const title = await Dialogs.ask({
      title: 'Rename conversation', confirm: 'Rename',
      field: { label: 'Title', value: c.title || '', maxLength: 200, required: true },
    });
    if (!title || title === c.title) return;
    const data = await api(convPath(c.id), 'PATCH', { title });
    c.title = (data && data.title) || title;
    renderConversations();
  });

  // Pin, unpin, archive, unarchive: a PATCH, then the list as the server orders it.
  async function markConversation(c, changes) {
    const data = await api(convPath(c.id), 'PATCH', changes);
    Object.assign(c, { pinned: data.pinned, archived: data.archived });
    await loadConversations();
  }

  const togglePin = guarded('pin the conversation', (c) => markConversation(c, { pinned: !c.pinned }));
  const unarchiveConversation = guarded('unarchive the conversation', (c) => markConversation(c, { archived: false }));

  // Archive: the conversation leaves the list at once; if it is open it stays open (its
  // link still works). "Undo" brings it back, pinned again if it was.
  const archiveConversation = guarded('archive the conversation', async (c) => {
    const { pinned } = c;
    state.conversations = state.conversations.filter((x) => x.id !== c.id);
    renderConversations();
    try {
      await markConversation(c, { archived: true });
    } catch (e) {
      loadConversations();
      throw e;
    }
    const restore = pinned ? { archived: false, pinned: true } : { archived: false };
    Dialogs.toast({
      text: `Archived “${c.title || 'Untitled'}”.`, action: 'Undo', ms: UNDO_MS,
      onAction: guarded('restore the conversation', () => markConversation(c, restore)),
    });
  });

  // Delete with undo: the conversation leaves the list (and the view) at once, and the
  // DELETE is sent when the "Undo" toast times out, when another delete replaces the
  // toast, or when the page is left (pagehide: a keepalive request outlives the page).
  const deleteConversation = guarded('delete the conversation', async (c) => {
    const ok = await Dialogs.ask({
      title: 'Delete conversation?', confirm: 'Delete', danger: true,
      text: `“${c.title || 'Untitled'}” and its messages will be deleted. You can undo this for a few seconds.`,
    });
    if (!ok) return;
    const wasOpen = c.id === state.currentId;
    if (wasOpen) newChat();
    const toast = Dialogs.toast({
      text: `Deleted “${c.title || 'Untitled'}”.`, action: 'Undo', ms: UNDO_MS,
      onAction: () => {
        state.deleting = null;
        renderConversations();
        if (wasOpen && !state.currentId) openConversation(c.id, true);
      },
      onTimeout: () => commitDelete(c),
    });
    state.deleting = { c, toast };
    renderConversations();
  });

  async function commitDelete(c) {
    if (state.deleting && state.deleting.c.id === c.id) state.deleting = null;
    try {
      await api(convPath(c.id), 'DELETE');
      state.conversations = state.conversations.filter((x) => x.id !== c.id);
    } catch (e) {
      showNotice(`Could not delete “${c.title || 'Untitled'}”: ${e.message}`);
    }
    renderConversations();
  }

  // The page is going away with a delete still undoable: send it now, in a request that
  // the browser completes after the page is gone.
  function flushDeleteOnLeave() {
    const d = state.deleting;
    if (!d) return;
    state.deleting = null;
    d.toast.dismiss();
    try { sessionStorage.setItem(LEFT_DELETED_KEY, d.c.id); } catch (e) { /* see deletedOnLeave */ }
    fetch(config.api_base + convPath(d.c.id), {
      method: 'DELETE', keepalive: true, credentials: 'same-origin',
      headers: { Accept: 'application/json', 'X-CSRFToken': csrfToken() },
    }).catch(() => {});
  }

  function setSidebarOpen(open) {  // only visible as a drawer on narrow screens
    els.layout.classList.toggle('sidebar-open', open);
    els.sidebarToggle.setAttribute('aria-expanded', String(open));
  }

  // ---- message view ---------------------------------------------------------

  // Queued messages stay last: anything else goes above the first of them.
  function appendToMessages(node) {
    const placeholder = els.messages.querySelector('.empty-state, .gone-state');
    if (placeholder) placeholder.remove();
    const firstQueued = node.dataset && node.dataset.status === 'queued' ? null
      : els.messages.querySelector(':scope > .message[data-status="queued"]');
    els.messages.insertBefore(node, firstQueued);
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

  // A conversation that does not exist (deleted, or a wrong link): say so, and offer a
  // way forward. The composer stays usable: typing starts a new chat.
  function showGone() {
    const box = el('div', 'gone-state');
    box.append(el('h2', 'gone-title', 'This conversation no longer exists'),
      el('p', 'gone-text', 'It was deleted, or the link is wrong.'),
      button('primary gone-new-chat', 'Start a new chat', 'Start a new chat', () => newChat()));
    els.messages.replaceChildren(box);
    els.title.textContent = 'Conversation not found';
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
    Object.assign(b.dataset, { id: m.id || '', role: m.role, status: m.status || 'complete', model: m.model || '',
      finishReason: m.finish_reason || '' });
    if (m.id && m.siblings) state.siblings.set(m.id, m.siblings);
    const who = { user: 'You', assistant: 'Assistant' }[m.role] || m.role;
    const head = el('div', 'message-head');
    head.append(el('span', 'message-role', who), timeElement(m.created));
    const footer = el('div', 'message-footer');
    footer.append(el('div', 'message-actions'), el('div', 'message-meta'));
    b.append(head, el('div', 'message-text'), footer);
    renderActions(b, m);
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
  function cutAfter(parentId) {
    const shown = shownPath();
    const at = parentId ? shown.findIndex((b) => b.dataset.id === parentId) : -1;
    if (at >= 0 && at === shown.length - 1) return;
    for (const b of shown.slice(at + 1)) {
      for (const collection of perMessage()) collection.delete(b.dataset.id);
      b.remove();
    }
    if (parentId && at < 0 && !els.messages.querySelector('.load-older')) els.messages.prepend(olderButton());
    const last = lastShown();
    if (last) renderActions(last);
  }

  // The one place that builds a bubble's row of action buttons, from its role and status
  // (called again whenever the status changes). `m.feedback`: the saved thumbs, if any;
  // the thumbs already shown are kept.
  function renderActions(b, m = {}) {
    const row = b.querySelector('.message-actions');
    const { role, status, id } = b.dataset;
    const feedback = row.querySelector('.feedback');
    const actions = [];
    if (role === 'assistant') {
      actions.push(copyButton());
      if (id && status !== 'streaming') actions.push(feedback || Feedback.controls(id, m.feedback || null), ...Speech.controls(id), ...Voice.controls(id));
    } else if (status === 'queued') {
      const cancel = button('cancel-queued', null, 'Cancel this queued message', () => cancelQueued(b));
      cancel.innerHTML = ICONS.cancel;  // a constant
      cancel.append(el('span', 'cancel-label', 'Cancel'));
      cancel.title = 'Do not send it (its text goes back into an empty message box)';
      actions.push(cancel);
    }
    actions.push(...Branches.controls({
      id, role, status, siblings: state.siblings.get(id), content: state.raw.get(id),
      finishReason: b.dataset.finishReason, last: b === lastShown(),
    }));
    row.replaceChildren(...actions);
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
      Markdown.renderInto(node, raw, { streaming: b.dataset.status === 'streaming' });
    } else if (b.dataset.role === 'assistant') {
      // "Show chunks": plain text, one span per chunk frame, to see the chunking mode at work.
      node.replaceChildren(...(state.parts.get(id) || []).map((t) => el('span', 'chunk', t)));
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
    w.setAttribute('aria-label', 'The model is writing');
    for (let i = 0; i < 3; i += 1) w.append(el('span', 'writing-dot'));
    return w;
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
    if (Branches.onClick(e.target, (frame) => sendFrame(frame) || showNotice('Not connected: try again in a moment.'),
      (id) => state.raw.get(id) || '')) return;
    if (Speech.onClick(e.target, (id) => state.raw.get(id) || '')) return;
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

  // What the page keeps per message shown, by id.
  const perMessage = () => [state.bubbles, state.streaming, state.nextSeq, state.raw, state.parts,
    state.dirty, state.siblings];

  function resetStreamState() {
    for (const collection of perMessage()) collection.clear();
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

  // While an answer streams, Send stays: a message sent then is queued (see flushQueue).
  function updateComposer() {
    const busy = state.streaming.size > 0;
    els.stop.hidden = !busy;
    els.send.disabled = els.input.disabled || state.creating;
    els.input.placeholder = busy ? 'Write your next message (sent when this answer ends)…'
      : 'Message (Enter to send)';
    updateBusy();
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
    if (!content || els.input.disabled || state.creating) return;
    if (!checkLength()) return;
    Voice.hush(false);  // barge-in: the server's voice stops for a new message (it hears it too)
    if (!state.currentId) {
      state.creating = true;
      updateComposer();
      try {
        openConversation((await createConversation(draftBody())).id, true);
      } catch (e) {
        showNotice(`Could not start a new chat: ${e.message}`);
        return;
      } finally {
        state.creating = false;
        updateComposer();
      }
    }
    // Optimistic bubble; the server's `message` frame carrying our client_id confirms it.
    // Behind a streaming answer or other waiting messages it is queued.
    const clientId = uuid();
    const queued = mustWait();
    const p = { content, el: addBubble({ role: 'user', content, status: queued ? 'queued' : 'pending' }),
      sent: false, failed: false, queued, retries: 0 };
    p.el.dataset.clientId = clientId;
    if (queued) renderMeta(p.el, { status: 'queued' });
    state.pending.set(clientId, p);
    els.input.value = '';
    autoGrow();
    checkLength();
    scrollToBottom();
    if (queued) announce('Queued: it is sent when the answer ends.');
    flushQueue();  // sends it now if nothing streams and the socket is ready
  }

  // One answer at a time per conversation (the server says `busy` otherwise): a message
  // waits while an answer streams or while an earlier message of ours is unanswered.
  const mustWait = () => state.streaming.size > 0 ||
    [...state.pending.values()].some((p) => !p.failed);

  function setQueued(p, queued) {
    p.queued = queued;
    p.el.dataset.status = queued ? 'queued' : 'pending';
    renderMeta(p.el, { status: p.el.dataset.status });
    renderActions(p.el);
  }

  // Sends the first waiting message once nothing streams and none of ours is in flight;
  // the next one goes when the answer to this one has ended (onEnd calls this again).
  function flushQueue() {
    clearTimeout(state.retryTimer);
    if (!state.ready || state.streaming.size) return;
    for (const [clientId, p] of state.pending) {
      if (p.failed) continue;
      if (p.sent) return;  // in flight: wait for its answer
      if (p.queued) setQueued(p, false);
      sendUserMessage(clientId, p);
      return;
    }
  }

  function cancelQueued(bubble) {
    const clientId = bubble.dataset.clientId;
    const p = state.pending.get(clientId);
    if (!p || p.sent) return;
    state.pending.delete(clientId);
    bubble.remove();
    if (!els.input.value) {
      els.input.value = p.content;
      autoGrow();
      checkLength();
    }
    announce('Queued message cancelled.');
    els.input.focus();
  }

  function sendUserMessage(clientId, p) {
    if (sendFrame({ type: 'user_message', content: p.content, client_id: clientId })) p.sent = true;
  }

  // ---- WebSocket ------------------------------------------------------------

  function setStatus(s, text) {
    clearInterval(state.statusTimer);
    els.status.dataset.state = s;
    els.status.textContent = els.status.title = text || STATUS_TEXT[s];  // title: a dot on phones
    els.status.hidden = !els.status.textContent;
  }

  // After a failed or dropped connection: say so, and count down to the next attempt.
  function showRetryCountdown(delay) {
    const due = Date.now() + delay;
    const tick = () => {
      const left = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      els.status.textContent = els.status.title = `Not connected. Retrying in ${left} s…`;
    };
    setStatus('reconnecting', ' ');
    tick();
    state.statusTimer = setInterval(tick, 1000);
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
    clearTimeout(state.retryTimer);
    clearInterval(state.statusTimer);
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
      // Deleted (here or in another tab) or never ours: a new chat is the way forward.
      const id = state.currentId;
      showNewChat();
      state.conversations = state.conversations.filter((c) => c.id !== id);
      showGone();
      renderConversations();
    } else {
      // The next connection's history frame rebuilds the view, streaming answers included.
      // Closed for a policy (1008: too many frames or sockets; its error frame said why):
      // wait the longest backoff before trying again.
      if (ev.code === 1008) state.attempts = Math.max(state.attempts, 4);
      const delay = Math.min(1000 * 2 ** state.attempts, MAX_BACKOFF_MS);
      state.attempts += 1;
      showRetryCountdown(delay);
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
    Voice.hush(false);
    disconnect();
    state.currentId = null;
    state.draft = null;
    state.pending.clear();
    resetStreamState();
    setStatus('idle');
    showPlaceholder('Start a new chat, or pick one from the list.');
    setComposerEnabled(true);
    announceConversation(null);  // settings.js
  }

  // ---- server frames --------------------------------------------------------

  // settings.js hook: the open conversation's settings ({id, title, model, instructions,
  // temperature} from `history` and `conversation` frames; null when none is open).
  const announceConversation = (c) => document.dispatchEvent(new CustomEvent('chat:conversation', { detail: c }));

  function handleFrame(raw) {
    let f = null;
    try { f = JSON.parse(raw); } catch (e) { /* reported below */ }
    const handlers = { history: onHistory, older: onOlder, message: onMessage, start: onStart,
      chunk: onChunk, end: onEnd, error: onError, conversation: onConversation, pong: () => {},
      audio: Voice.onAudio, voice_notice: Voice.onNotice };
    if (f && handlers[f.type]) handlers[f.type](f);
    else console.warn('Ignoring an unknown frame', raw);
  }

  function onHistory(f) {
    Voice.connected();  // a new socket speaks only once told to
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
      announceConversation(f.conversation);  // settings.js
    }
    state.ready = true;
    resendPending(messages);
    if (!els.messages.children.length) showPlaceholder('Say something to start.');
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
    if (changed.id === state.currentId) els.title.textContent = changed.title || 'Untitled';
    renderConversations();
    if (moved) loadConversations();
    announceConversation(changed);
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
  // Queued messages go through here too: they were never sent, so they are not in the
  // history; they stay queued while the history shows an answer streaming.
  function resendPending(history) {
    const saved = new Set(history.map((m) => m.client_id).filter(Boolean));
    for (const [clientId, p] of state.pending) {
      if (saved.has(clientId) || p.failed) {
        state.pending.delete(clientId);
      } else {
        p.sent = false;
        appendToMessages(p.el);
      }
    }
    const first = [...state.pending.values()][0];
    for (const p of state.pending.values()) {
      const wait = state.streaming.size > 0 || p !== first;
      if (p.queued !== wait) setQueued(p, wait);
    }
    flushQueue();
  }

  function onMessage(f) {
    const p = f.client_id && state.pending.get(f.client_id);
    if (!p) {
      if (state.bubbles.has(f.id)) return;
      if ('parent_id' in f) cutAfter(f.parent_id);  // an edit starts a new branch
      addBubble(f);  // e.g. typed in another tab
      return;
    }
    if (f.siblings) state.siblings.set(f.id, f.siblings);
    state.pending.delete(f.client_id);
    Object.assign(p.el.dataset, { id: f.id, status: f.status || 'complete' });
    state.bubbles.set(f.id, p.el);
    setRaw(f.id, f.content != null ? f.content : p.content);
    if (f.created) p.el.querySelector('.message-time').replaceWith(timeElement(f.created));
    renderMeta(p.el, f);
    renderActions(p.el, f);
  }

  function onStart(f) {
    if (!state.bubbles.has(f.message_id) && f.parent_id) cutAfter(f.parent_id);  // regenerate, continue
    if (f.siblings) state.siblings.set(f.message_id, f.siblings);
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
    // channel layer lost (chat/streaming/delivery/subscriber.py): a gap here would be a
    // server bug.
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
      b.dataset.finishReason = f.finish_reason || '';
      b.removeAttribute('aria-busy');
      renderActions(b);
      renderMeta(b, f);
      state.dirty.delete(id);
      renderText(b);  // now, not at the next frame: the final text is there with the status
      announce(ENDINGS[f.status] || `Answer ${f.status}`);
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
    if (f.message_id && state.bubbles.has(f.message_id)) return;
    if (f.code === C.BUSY && requeueBusy()) return;
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
    flushQueue();  // the messages queued behind the refused one
  }

  // `busy`: an answer (e.g. from another tab) streams. Our message was not saved: queue
  // it again; it goes when that answer ends, or after a pause when no answer is in sight
  // (its start may still be on the way), a few times before it counts as refused.
  function requeueBusy() {
    const refused = [...state.pending.values()].filter((p) => p.sent && !p.failed);
    if (!refused.length || refused.some((p) => p.retries >= BUSY_RETRIES)) return false;
    for (const p of refused) {
      p.sent = false;
      p.retries += 1;
      setQueued(p, true);
    }
    clearTimeout(state.retryTimer);
    if (!state.streaming.size) state.retryTimer = setTimeout(flushQueue, 1500);
    return true;
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
  Voice.init({ send: sendFrame, notify: showNotice });
  document.addEventListener('chat:voice', (e) => {  // an answer's first clip: its Replay voice button
    const b = state.bubbles.get(e.detail.id);
    if (b && b.dataset.status !== 'streaming' && !b.querySelector('.voice-replay-button')) renderActions(b);
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
    Speech.cancel([...state.streaming]);
    Voice.hush(false);  // the server's voice stops with the answer
    if (!sendFrame({ type: 'stop' })) showNotice('Not connected: the answer cannot be stopped right now.');
  });
  els.newChat.addEventListener('click', () => newChat());
  document.addEventListener('chat:new-chat', (e) => newChat(e.detail));  // settings.js: from a preset
  els.sidebarToggle.addEventListener('click', () => setSidebarOpen(!els.layout.classList.contains('sidebar-open')));
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') setSidebarOpen(false); });
  els.messages.addEventListener('scroll', () => {
    const m = els.messages;
    state.stickToBottom = m.scrollHeight - m.scrollTop - m.clientHeight < 40;
  });
  window.addEventListener('pagehide', flushDeleteOnLeave);
  window.addEventListener('pageshow', (e) => { if (e.persisted) loadConversations(); });
  window.addEventListener('online', () => {  // back online: do not wait for the back-off
    if (state.reconnectTimer && !state.ws) { clearTimeout(state.reconnectTimer); connect(); }
  });
  window.addEventListener('popstate', () => {
    const id = idFromPath();
    if (id) openConversation(id, false);
    else showNewChat();
  });

  showNewChat();
  // settings.js (loaded after this file) missed that first announcement: repeat it once
  // every deferred script has run, so a new chat's Instructions work from the start.
  document.addEventListener('DOMContentLoaded', () => {
    if (state.draft && !state.currentId) announceConversation(state.draft);
  }, { once: true });
  loadConversations();
  const initial = config.initial_conversation_id || idFromPath();
  if (initial) openConversation(initial, false);
}());
