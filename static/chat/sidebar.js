// The chat page's sidebar: the conversations (JSON API), grouped by date with the pinned
// first, each a link with Pin, Archive, Rename and Delete (with undo); and "New chat"'s
// draft settings, sent with the first message.
import { api, app, config, convPath, Dialogs, els, state, util } from './page.js';
import { showNotice } from './render.js';
import { DAY_GROUPS, dayGroup, dayGroupLabel, gettext, interpolate } from './i18n.js';

const { el, button, csrfToken } = util;
const UNDO_MS = 6000;  // a deleted conversation can be restored for this long
const svg = util.icon;
const ICONS = {
  rename: svg('M12 20h9M16.5 3.5a2.12 2.12 0 0 1 3 3L7 19l-4 1 1-4z'),
  delete: svg('M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6M10 11v6M14 11v6'),
  // Pin: Lucide's (ISC); archive and unarchive: Feather's box, the second with an arrow out.
  pin: svg('M12 17v5M9 10.76a2 2 0 0 1-1.11 1.79l-1.78.9A2 2 0 0 0 5 15.24V16a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-.76a2 2 0 0 0-1.11-1.79l-1.78-.9A2 2 0 0 1 15 10.76V7a1 1 0 0 1 1-1 2 2 0 0 0 0-4H8a2 2 0 0 0 0 4 1 1 0 0 1 1 1z'),
  archive: svg('M21 8v13H3V8M1 3h22v5H1zM10 12h4'),
  unarchive: svg('M21 8v13H3V8M1 3h22v5H1zM12 18v-6M9 15l3-3 3 3'),
};

// Wraps an async action so that a failure becomes a readable notice; `what` is the
// whole sentence, with %(error)s for the reason (e.g. "Could not rename it: %(error)s").
export const guarded = (what, fn) => async (...args) => {
  try {
    await fn(...args);
  } catch (e) {
    showNotice(interpolate(what, { error: e.message }, true));
  }
};

// A conversation's name in our own sentences (its title is the user's or the model's text).
const titleOf = (c) => c.title || gettext('Untitled');
const named = (fmt, c) => interpolate(fmt, { title: titleOf(c) }, true);

const iconButton = (className, icon, label, onClick) => {
  const b = button(`icon-button ${className}`, null, label, onClick);
  b.innerHTML = icon;  // a constant
  b.title = label;
  return b;
};

const visibleConversations = () => state.conversations.filter(
  (c) => !(state.deleting && state.deleting.c.id === c.id));

// #conversation-list holds one section per group: a heading and its list. The pinned
// come first, as the server orders them (the most recently pinned first), then one
// group per date (Today, Yesterday, Previous 7 days, Older: i18n.js's dayGroup); the
// archived list (?archived=1 on the page) is one group.
const PINNED = 'pinned';
const ARCHIVED = 'archived';
const SECTIONS = [PINNED, ...DAY_GROUPS, ARCHIVED];
const sectionLabel = (name) => {
  if (name === PINNED) return gettext('Pinned');
  if (name === ARCHIVED) return gettext('Archived');
  return dayGroupLabel(name);
};

export function renderConversations() {
  const groups = new Map();
  for (const c of visibleConversations()) {
    const name = config.list_archived ? ARCHIVED : c.pinned ? PINNED : dayGroup(c.updated || c.created);
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push(c);
  }
  els.list.replaceChildren(...SECTIONS.filter((g) => groups.has(g)).map((name) => {
    const section = el('section', 'conversation-group');
    const heading = el('h2', 'conversation-group-title', sectionLabel(name));
    heading.id = `conversation-group-${SECTIONS.indexOf(name)}`;
    section.setAttribute('aria-labelledby', heading.id);
    const ul = el('ul', 'conversation-items');
    ul.append(...groups.get(name).map(conversationItem));
    section.append(heading, ul);
    return section;
  }));
  els.listEmpty.hidden = groups.size > 0;
  if (config.list_archived) els.listEmpty.textContent = gettext('No archived conversations.');
  const current = state.conversations.find((c) => c.id === state.currentId);
  if (current) els.title.textContent = titleOf(current);
  else if (!state.currentId && !els.messages.querySelector('.gone-state')) els.title.textContent = gettext('New chat');
}

// Each entry is a link to the conversation's own URL: a plain click opens it in this
// page (pushState), a middle or modified click opens a new tab, and the link can be
// copied. The full title is its tooltip (CSS cuts it with an ellipsis).
function conversationItem(c) {
  const title = titleOf(c);
  const li = el('li', 'conversation-item');
  li.dataset.id = c.id;
  const open = el('a', 'conversation-open', title);
  open.href = `/c/${convPath(c.id)}`;
  open.title = title;
  open.addEventListener('click', (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    app.openConversation(c.id, true);
  });
  if (c.id === state.currentId) {
    li.classList.add('active');
    open.setAttribute('aria-current', 'page');
  }
  const actions = el('span', 'conversation-actions');
  if (c.archived) {
    actions.append(iconButton('conversation-unarchive', ICONS.unarchive, named(gettext('Unarchive “%(title)s”'), c), () => unarchiveConversation(c)));
  } else {
    const pin = c.pinned ? named(gettext('Unpin “%(title)s”'), c) : named(gettext('Pin “%(title)s”'), c);
    actions.append(
      iconButton(`conversation-pin${c.pinned ? ' is-pinned' : ''}`, ICONS.pin, pin, () => togglePin(c)),
      iconButton('conversation-archive', ICONS.archive, named(gettext('Archive “%(title)s”'), c), () => archiveConversation(c)));
  }
  actions.append(
    iconButton('conversation-rename', ICONS.rename, named(gettext('Rename “%(title)s”'), c), () => renameConversation(c)),
    iconButton('conversation-delete', ICONS.delete, named(gettext('Delete “%(title)s”'), c), () => deleteConversation(c)));
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
export const loadConversations = guarded(gettext('Could not load your conversations: %(error)s'), async () => {
  const query = new URLSearchParams({ started: '1' });
  if (config.list_source) query.set('source', config.list_source);
  if (config.list_archived) query.set('archived', '1');
  const listed = (await api(`?${query}`)).conversations || [];
  state.conversations = listed.filter((c) => !deletedOnLeave.has(c.id));
  renderConversations();
});

export async function createConversation(body = {}) {
  const c = await api('', 'POST', body);
  state.conversations = [c, ...state.conversations.filter((x) => x.id !== c.id)];
  return c;
}

// What the first message's POST says of the new conversation: the settings chosen.
export function draftBody() {
  const d = state.draft || {};
  const fields = ['preset', 'model', 'instructions', 'temperature', 'temporary'].filter((k) => d[k] !== undefined);
  return Object.fromEntries(fields.map((k) => [k, d[k]]));
}

const renameConversation = guarded(gettext('Could not rename the conversation: %(error)s'), async (c) => {
  const title = await Dialogs.ask({
    title: gettext('Rename conversation'), confirm: gettext('Rename'),
    field: { label: gettext('Title'), value: c.title || '', maxLength: 200, required: true },
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

const togglePin = guarded(gettext('Could not pin the conversation: %(error)s'), (c) => markConversation(c, { pinned: !c.pinned }));
const unarchiveConversation = guarded(gettext('Could not unarchive the conversation: %(error)s'), (c) => markConversation(c, { archived: false }));

// Archive: the conversation leaves the list at once; if it is open it stays open (its
// link still works). "Undo" brings it back, pinned again if it was.
const archiveConversation = guarded(gettext('Could not archive the conversation: %(error)s'), async (c) => {
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
    text: named(gettext('Archived “%(title)s”.'), c), action: gettext('Undo'), ms: UNDO_MS,
    onAction: guarded(gettext('Could not restore the conversation: %(error)s'), () => markConversation(c, restore)),
  });
});

// Delete with undo: the conversation leaves the list (and the view) at once, and the
// DELETE is sent when the "Undo" toast times out, when another delete replaces the
// toast, or when the page is left (pagehide: a keepalive request outlives the page).
const deleteConversation = guarded(gettext('Could not delete the conversation: %(error)s'), async (c) => {
  const ok = await Dialogs.ask({
    title: gettext('Delete conversation?'), confirm: gettext('Delete'), danger: true,
    text: named(gettext('“%(title)s” and its messages will be deleted. You can undo this for a few seconds.'), c),
  });
  if (!ok) return;
  const wasOpen = c.id === state.currentId;
  if (wasOpen) app.newChat();
  const toast = Dialogs.toast({
    text: named(gettext('Deleted “%(title)s”.'), c), action: gettext('Undo'), ms: UNDO_MS,
    onAction: () => {
      state.deleting = null;
      renderConversations();
      if (wasOpen && !state.currentId) app.openConversation(c.id, true);
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
    showNotice(interpolate(gettext('Could not delete “%(title)s”: %(error)s'), { title: titleOf(c), error: e.message }, true));
  }
  renderConversations();
}

// The page is going away with a delete still undoable: send it now, in a request that
// the browser completes after the page is gone.
export function flushDeleteOnLeave() {
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

export function setSidebarOpen(open) {  // only visible as a drawer on narrow screens
  els.layout.classList.toggle('sidebar-open', open);
  els.sidebarToggle.setAttribute('aria-expanded', String(open));
}
