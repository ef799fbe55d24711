// Temporary chats: a new chat can be made temporary before its first message (the
// "Temporary" button by the model picker); it is then not listed in the sidebar nor
// found by search, and the server deletes it CHAT_TEMPORARY_HOURS after it starts.
// While one is open, a note under the toolbar says so, and that staff can still review
// it. Follows the chat page's `chat:conversation` events: a new chat's draft object (empty
// id) gets `temporary` set in place, and composer.js's first POST sends it.
const page = typeof document === 'undefined' ? null : document;  // null: under node --test
const button = page && page.getElementById('temporary-button');
const note = page && page.getElementById('temporary-note');

export function describe(conversation, now = new Date()) {
  if (!conversation || !conversation.temporary) return '';
  if (!conversation.expires) return 'Temporary chat: it will not be listed or searched, and is deleted after a while. Staff can review it like any chat.';
  const expires = new Date(conversation.expires);
  const sameDay = expires.toDateString() === now.toDateString();
  const time = expires.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const when = sameDay ? `today at ${time}` : `${expires.toLocaleDateString()} at ${time}`;
  return `Temporary chat: not listed or searched, deleted ${when}. Staff can review it like any chat.`;
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
