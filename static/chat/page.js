// What the chat page's modules share: its configuration, its elements, the page state,
// the message store, and the helpers of the classic scripts loaded before (util.js,
// markdown.js, speech.js, dialogs.js, feedback.js, branches.js; voice.js, a module).
// `app` is filled by main.js with the actions that cross modules (open a conversation,
// start a new chat, send a frame), so that no module imports the entry module.
import { MessageStore } from './store.js';

const configEl = document.getElementById('chat-config');
export const config = Object.assign({
  model_name: '', max_message_chars: 4000, chunk_modes: ['token', 'line', 'sentence', 'clause'],
  initial_conversation_id: '', api_base: '/api/conversations/', ws_base: '/ws/chat/',
}, configEl ? JSON.parse(configEl.textContent) : {});

const $ = (id) => document.getElementById(id);
export const els = {
  layout: $('chat-app'), list: $('conversation-list'), listEmpty: $('conversation-empty'),
  newChat: $('new-chat'), sidebarToggle: $('sidebar-toggle'), title: $('conversation-title'),
  status: $('connection-status'), messages: $('messages'), composer: $('composer'),
  input: $('message-input'), send: $('send-button'), stop: $('stop-button'),
  chunking: $('chunking-select'), chunkToggle: $('chunk-hint-toggle'), hint: $('composer-hint'),
  readAloud: $('read-aloud-toggle'), announcer: $('answer-announcer'),
};

// Fallbacks keep the chat usable if a helper script failed to load.
export const Dialogs = window.ChatDialogs;
export const Markdown = window.ChatMarkdown || { renderInto: (node, raw) => { node.textContent = raw; }, appendCursor() {} };
export const Voice = window.ChatVoice || { init() {}, connected() {}, onAudio() {}, onNotice() {}, hush() {}, controls: () => [] };
export const Speech = window.ChatSpeech || { init() {}, onChunk() {}, onEnd() {}, cancel() {}, controls: () => [], onClick: () => false };
export const Feedback = window.ChatFeedback || { controls: () => document.createComment(''), onClick: () => false };
export const Branches = window.ChatBranches || { controls: () => [], onClick: () => false };
export const util = window.ChatUtil;

export const store = new MessageStore();

export const state = {
  conversations: [], currentId: null,
  creating: false,       // a POST for a new conversation is in flight
  draft: null,           // the new chat shown while none is open: its settings, saved with its first message
  retryTimer: null,      // `busy` was answered while no answer was in sight: try again
  deleting: null,        // {c, toast}: a deleted conversation that can still be restored
  statusTimer: null,     // counts down to the next reconnection attempt
  stickToBottom: true,
};

// Set by main.js: {client, openConversation(id, push), newChat(settings), showNewChat(settings)}.
export const app = { client: null };

export const sendFrame = (frame) => Boolean(app.client) && app.client.send(frame);

export const convPath = (id) => `${encodeURIComponent(id)}/`;

export const api = (path, method, body) => util.request(config.api_base + path, method, body);

// settings.js and temporary.js hook: the open conversation's settings ({id, title, model,
// instructions, temperature} from `history` and `conversation` frames; null when none is open).
export const announceConversation = (c) => document.dispatchEvent(new CustomEvent('chat:conversation', { detail: c }));
