// Temporary chats: a new chat can be made temporary before its first message (the
// "Temporary" button by the model picker); it is then not listed in the sidebar nor
// found by search, and the server deletes it CHAT_TEMPORARY_HOURS after it starts.
// While one is open, a note under the toolbar says so, and that staff can still review
// it. Follows the chat page's `chat:conversation` events: a new chat's draft object (empty
// id) gets `temporary` set in place, and composer.js's first POST sends it.
import { formatDate, formatTime, gettext, interpolate } from './i18n.js';

const page = typeof document === 'undefined' ? null : document;  // null: under node --test
const button = page && page.getElementById('temporary-button');
const note = page && page.getElementById('temporary-note');

export function describe(conversation, now = new Date()) {
  if (!conversation || !conversation.temporary) return '';
  if (!conversation.expires) {
    return gettext('Temporary chat: it will not be listed or searched, and is deleted after a while. Staff can review it like any chat.');
  }
  const expires = new Date(conversation.expires);
  const time = formatTime(expires);
  if (expires.toDateString() === now.toDateString()) {
    return interpolate(gettext('Temporary chat: not listed or searched, deleted today at %(time)s. Staff can review it like any chat.'),
      { time }, true);
  }
  return interpolate(gettext('Temporary chat: not listed or searched, deleted %(date)s at %(time)s. Staff can review it like any chat.'),
    { date: formatDate(expires, { year: 'numeric', month: 'numeric', day: 'numeric' }), time }, true);
}

let current = null;

function show(conversation) {
  current = conversation;
  const draft = Boolean(conversation) && !conversation.id;
  button.disabled = !draft;  // a saved chat stays what it was made
  button.setAttribute('aria-pressed', String(Boolean(conversation && conversation.temporary)));
  const text = describe(conversation);
  note.textContent = text;
  note.hidden = !text;
}

if (button && note) {
  button.addEventListener('click', () => {
    if (!current || current.id) return;
    current.temporary = !current.temporary;
    show(current);
  });
  page.addEventListener('chat:conversation', (e) => show(e.detail));
  show(null);
}
