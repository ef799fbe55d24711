// Chat page: a conversation sidebar (JSON API) and one WebSocket per open conversation.
// The entry module (templates/chat/index.html loads it as <script type="module">, in the
// place of the classic chat.js it replaces): it wires the others together.
//   protocol.js  the socket: connect, back-off, ping, `seq` checks, dispatch (no DOM)
//   store.js     the messages' raw text, parts, versions, the streaming set, the queue (no DOM)
//   page.js      configuration, elements, page state, the classic scripts' helpers
//   render.js    the bubbles;  frames.js  what each server frame does to them
//   composer.js  the message box and its queue;  sidebar.js  the conversation list
//   attachments.js  files attached to a message (attachtray.js: the tray, no DOM)
// Module scripts run deferred, in document order with the `defer` scripts: after util.js,
// markdown.js, speech.js, voice.js, temporary.js, dialogs.js, feedback.js and
// branches.js, before search.js, settings.js, usage.js, theme.js and share.js.
import { announceConversation, app, config, convPath, els, sendFrame, Speech, state, store, util, Voice } from './page.js';
import { ProtocolClient } from './protocol.js';
import { bubbles, onMessagesClick, renderActions, rerenderAll, resetView, showGone, showNotice, showPlaceholder } from './render.js';
import { setComposerEnabled, updateComposer, wireComposer } from './composer.js';
import { wireAttachments } from './attachments.js';
import { flushDeleteOnLeave, loadConversations, renderConversations, setSidebarOpen } from './sidebar.js';
import { handlers } from './frames.js';
import { gettext, interpolate } from './i18n.js';

// `idle` (no conversation open) shows nothing; "Not connected" only after a failure.
const STATUS_TEXT = {
  idle: () => '', connecting: () => gettext('Connecting…'), connected: () => gettext('Connected'),
  reconnecting: () => gettext('Reconnecting…'), closed: () => gettext('Closed'),
};

function idFromPath() {
  const m = location.pathname.match(/^\/c\/([^/]+)\/?$/);
  return m ? decodeURIComponent(m[1]) : null;
}

function setStatus(s, text) {
  clearInterval(state.statusTimer);
  els.status.dataset.state = s;
  els.status.textContent = els.status.title = text || STATUS_TEXT[s]();  // title: a dot on phones
  els.status.hidden = !els.status.textContent;
}

// After a failed or dropped connection: say so, and count down to the next attempt.
function showRetryCountdown(delay) {
  const due = Date.now() + delay;
  const tick = () => {
    const left = Math.max(1, Math.ceil((due - Date.now()) / 1000));
    els.status.textContent = els.status.title = interpolate(gettext('Not connected. Retrying in %(seconds)s s…'), { seconds: left }, true);
  };
  setStatus('reconnecting', ' ');
  tick();
  state.statusTimer = setInterval(tick, 1000);
}

// The protocol client's news: connecting, open, closed by the server.
function onStatus(s, detail) {
  if (s === 'connecting' || s === 'reconnecting' || s === 'connected') {
    setStatus(s);
    return;
  }
  clearTimeout(state.retryTimer);
  clearInterval(state.statusTimer);
  if (s === 'waiting') {
    showRetryCountdown(detail.delay);
  } else if (detail.code === 4401) {
    setStatus('closed', gettext('Logged out'));
    location.href = util.loginUrl();
  } else if (detail.code === 4403) {
    // Deleted (here or in another tab) or never ours: a new chat is the way forward.
    const id = state.currentId;
    showNewChat();
    state.conversations = state.conversations.filter((c) => c.id !== id);
    showGone();
    renderConversations();
  }
}

const client = new ProtocolClient({
  url: () => {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    return `${proto}://${location.host}${config.ws_base}${convPath(state.currentId)}` +
      `?chunk=${encodeURIComponent(els.chunking.value)}`;
  },
  handlers,
  onStatus,
});

function openConversation(id, push) {
  setSidebarOpen(false);
  if (id === state.currentId && client.ws) return;
  closeConversation();
  state.currentId = id;
  if (push) history.pushState({ conversationId: id }, '', `/c/${convPath(id)}`);
  showPlaceholder(gettext('Loading…'));
  renderConversations();
  client.open();
}

function closeConversation() {
  Speech.cancel();
  Voice.hush(false);
  client.close();
  clearTimeout(state.retryTimer);
  clearInterval(state.statusTimer);
  state.currentId = null;
  state.draft = null;
  store.clearPending();
  resetView();
  setStatus('idle');
  showPlaceholder(gettext('Start a new chat, or pick one from the list.'));
  setComposerEnabled(true);
  announceConversation(null);  // settings.js
}

// "New chat" saves nothing: the page shows an empty conversation, and its first
// message creates it (composer.js). `settings`: {model, instructions, temperature}
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
  showPlaceholder(gettext('New chat: type your first message below.'));
  announceConversation(state.draft);  // settings.js and temporary.js edit the draft's settings in place
  renderConversations();
}

Object.assign(app, { client, openConversation, newChat });

wireComposer();
wireAttachments(updateComposer);
els.chunkToggle.addEventListener('change', () => {
  els.messages.classList.toggle('show-chunks', els.chunkToggle.checked);
  rerenderAll();
});
els.messages.addEventListener('click', onMessagesClick);
Speech.init(els.readAloud);
Voice.init({ send: sendFrame, notify: showNotice });
document.addEventListener('chat:voice', (e) => {  // an answer's first clip: its Replay voice button
  const b = bubbles.get(e.detail.id);
  if (b && b.dataset.status !== 'streaming' && !b.querySelector('.voice-replay-button')) renderActions(b);
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
window.addEventListener('online', () => client.retryNow());  // back online: do not wait for the back-off
window.addEventListener('popstate', () => {
  const id = idFromPath();
  if (id) openConversation(id, false);
  else showNewChat();
});

showNewChat();
// settings.js (loaded after this module) missed that first announcement: repeat it once
// every deferred script has run, so a new chat's Instructions work from the start.
document.addEventListener('DOMContentLoaded', () => {
  if (state.draft && !state.currentId) announceConversation(state.draft);
}, { once: true });
loadConversations();
const initial = config.initial_conversation_id || idFromPath();
if (initial) openConversation(initial, false);
