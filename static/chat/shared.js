// The shared page (/s/<token>/): a conversation's frozen snapshot (chat/conversations/
// snapshots.py), read-only. The server writes the path shown as plain text; this module
// renders it as the chat page does (static/chat/markdown.js: sanitized Markdown, code
// coloured, math) and, for a whole-tree snapshot, adds "‹ 1/2 ›" switches that move
// between the versions the snapshot holds, all in the page (nothing is asked of the server).
// An ES module: the tree walks (pathTo, versionsOf, switchTo) are pure, for
// tests/js/shared.test.mjs under `node --test`.

import { gettext } from './i18n.js';

// Messages are {n, parent, role, content, status, model, created, error}, numbered 0, 1, 2…
// in the order they were written.
function childrenOf(messages) {
  const children = new Map();
  for (const m of messages) {
    if (!children.has(m.parent)) children.set(m.parent, []);
    children.get(m.parent).push(m.n);
  }
  return children;
}

// The messages from a root down to `leaf`, root first.
export function pathTo(messages, leaf) {
  const byN = new Map(messages.map((m) => [m.n, m]));
  const path = [];
  let node = leaf;
  while (node != null && byN.has(node) && path.length <= messages.length) {
    path.push(byN.get(node));
    node = byN.get(node).parent;
  }
  return path.reverse();
}

// The numbers of a message's versions (its parent's children, oldest first), itself included.
export function versionsOf(messages, n) {
  const m = messages.find((x) => x.n === n);
  if (!m) return [n];
  return childrenOf(messages).get(m.parent) || [n];
}

// The leaf shown after switching to version `n`: from it, always the newest reply (as the
// chat page does).
export function switchTo(messages, n) {
  const children = childrenOf(messages);
  let node = n;
  for (let i = 0; i < messages.length; i++) {
    const below = children.get(node);
    if (!below || !below.length) break;
    node = below[below.length - 1];
  }
  return node;
}

function wire(window) {
  const document = window.document;
  const data = document.getElementById('share-snapshot');
  const list = document.getElementById('shared-messages');
  if (!data || !list) return;
  const snapshot = JSON.parse(data.textContent);
  const messages = snapshot.messages || [];
  const tree = snapshot.scope === 'tree';
  const Markdown = window.ChatMarkdown;
  const Util = window.ChatUtil;
  let leaf = snapshot.leaf;

  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  };

  function switcher(m) {
    const versions = versionsOf(messages, m.n);
    if (versions.length < 2) return null;
    const at = versions.indexOf(m.n);
    const box = el('div', 'branch-switch');
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', gettext('Versions of this message'));
    const step = (label, text, target) => {
      const b = el('button', 'branch-button shared-version', Util ? null : text);
      if (Util) b.innerHTML = Util.icon(text === '‹' ? 'M15 18l-6-6 6-6' : 'M9 18l6-6-6-6');  // a constant
      b.type = 'button';
      b.setAttribute('aria-label', label);
      b.title = label;
      b.disabled = target === undefined;
      if (target !== undefined) b.dataset.target = String(target);
      return b;
    };
    box.append(step(gettext('Previous version'), '‹', versions[at - 1]),
      el('span', 'branch-position', `${at + 1}/${versions.length}`),
      step(gettext('Next version'), '›', versions[at + 1]));
    return box;
  }

  function bubble(m) {
    const b = el('div', 'message');
    Object.assign(b.dataset, { role: m.role, status: m.status, n: String(m.n) });
    const head = el('div', 'message-head');
    head.append(el('span', 'message-role', m.role === 'user' ? gettext('User') : gettext('Assistant')));
    if (m.created && Util) head.append(Util.timeElement(m.created));
    const text = el('div', 'message-text');
    if (m.role === 'assistant' && Markdown && Markdown.available) {
      text.classList.add('markdown');
      Markdown.renderInto(text, m.content || '');
    } else {
      text.textContent = m.content || '';
    }
    const footer = el('div', 'message-footer');
    const actions = el('div', 'message-actions');
    const meta = el('div', 'message-meta');
    const nav = tree ? switcher(m) : null;
    if (nav) actions.append(nav);
    if (m.model && m.role === 'assistant') meta.append(el('span', 'message-tag', m.model));
    if (m.error) meta.append(el('div', 'message-error', m.error));
    footer.append(actions, meta);
    b.append(head, text, footer);
    return b;
  }

  function render() {
    list.replaceChildren(...pathTo(messages, leaf).map(bubble));
  }

  list.addEventListener('click', (e) => {
    const step = e.target.closest('.shared-version');
    if (step && step.dataset.target) {
      const n = Number(step.dataset.target);
      leaf = switchTo(messages, n);
      render();
      const again = list.querySelector(`.message[data-n="${n}"] .shared-version:not([disabled])`);
      if (again) again.focus();
      return;
    }
    const copy = e.target.closest('.code-copy');
    if (copy && Util) {
      const code = copy.closest('.code-block').querySelector('pre code, pre');
      Util.copyWithFeedback(copy, code ? code.textContent : '');
    }
  });
  render();
  list.dataset.ready = 'true';  // for the browser tests
}

if (typeof window !== 'undefined' && window.document) wire(window);
