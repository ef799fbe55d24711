// Share links in the chat page (docs/DESIGN.md, "Share links"): the toolbar's Share button
// opens a dialog (templates/chat/index.html) that creates a read-only link to the open
// conversation (the branch shown, or the whole tree), copies it, and lists the links made
// before with their views, each revocable; it also links the conversation's downloads
// (GET …/export/?format=json or markdown). The open conversation comes from the chat page's
// `chat:conversation` event; requests go through window.ChatUtil.request.
// An ES module (loaded with type="module"); exports nothing, imports only i18n.js.

import { formatDate, gettext, interpolate, ngettext } from './i18n.js';

const { el, request, copyWithFeedback } = window.ChatUtil;
const $ = (id) => document.getElementById(id);
const button = $('share-button');
const dialog = $('share-dialog');
const list = $('share-list');
const status = $('share-status');
let conversationId = '';

const sharesUrl = () => `/api/conversations/${encodeURIComponent(conversationId)}/shares/`;

function describe(share) {
  const what = share.scope === 'tree' ? gettext('whole conversation') : gettext('branch shown');
  const views = interpolate(ngettext('%(n)s view', '%(n)s views', share.views), { n: share.views }, true);
  let state;
  if (share.state === 'revoked') state = gettext('revoked');
  else if (share.state === 'expired') state = gettext('expired');
  else if (share.expires) state = interpolate(gettext('until %(date)s'), { date: formatDate(share.expires) }, true);
  else state = gettext('no expiry');
  return [what, state, views].join(' · ');
}

function row(share) {
  const item = el('li', 'share-item');
  item.dataset.state = share.state;
  item.dataset.id = String(share.id);
  const link = el('input', 'share-url');
  Object.assign(link, { type: 'text', readOnly: true, value: share.url });
  link.setAttribute('aria-label', gettext('Share link'));
  const info = el('span', 'share-info', describe(share));
  item.append(link, info);
  if (share.state === 'active') {
    const copy = el('button', 'share-copy');
    copy.type = 'button';
    copy.append(el('span', 'copy-label', gettext('Copy')));
    copy.addEventListener('click', () => copyWithFeedback(copy, share.url, say));
    const revoke = el('button', 'share-revoke danger', gettext('Revoke'));
    revoke.type = 'button';
    revoke.addEventListener('click', () => revokeShare(share));
    item.append(copy, revoke);
  }
  return item;
}

function say(text) { status.textContent = text; }

async function load() {
  list.replaceChildren();
  try {
    const data = await request(sharesUrl());
    list.replaceChildren(...data.shares.map(row));
    if (!data.shares.length) list.append(el('li', 'share-empty', gettext('No links yet.')));
  } catch (e) {
    say(e.message);
  }
}

async function createShare(e) {
  e.preventDefault();
  const form = $('share-form');
  const body = { scope: form.elements.scope.value, expires: form.elements.expires.value };
  $('share-create').disabled = true;
  try {
    const share = await request(sharesUrl(), 'POST', body);
    await load();
    const copied = await window.ChatUtil.copyText(share.url);
    say(copied ? gettext('Link created and copied.') : gettext('Link created: copy it from the list.'));
    const first = list.querySelector('.share-url');
    if (first) first.select();
  } catch (err) {
    say(err.message);
  } finally {
    $('share-create').disabled = false;
  }
}

async function revokeShare(share) {
  try {
    await request(`/api/shares/${encodeURIComponent(share.id)}/`, 'DELETE');
    say(gettext('Link revoked: it no longer opens.'));
    await load();
  } catch (e) {
    say(e.message);
  }
}

if (button && dialog) {
  document.addEventListener('chat:conversation', (e) => {
    conversationId = (e.detail && e.detail.id) || '';
    button.disabled = !conversationId;
    const exportUrl = `/api/conversations/${encodeURIComponent(conversationId)}/export/`;
    $('download-json').href = `${exportUrl}?format=json`;
    $('download-markdown').href = `${exportUrl}?format=markdown`;
    if (!conversationId && dialog.open) dialog.close();
  });
  button.addEventListener('click', () => {
    if (!conversationId) return;
    say('');
    dialog.showModal();
    load();
  });
  $('share-form').addEventListener('submit', createShare);
  $('share-close').addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close(); });
}
