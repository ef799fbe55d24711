// Branches of a conversation (docs/DESIGN.md, "Branches"): the "< 2/3 >" switch between a
// message's versions, and the buttons that make new ones: Regenerate and Continue on an
// answer, Edit on a question. render.js puts these controls in every bubble's action row and
// passes the frames on; the server answers with the usual frames (a `message` or `start`
// whose `parent_id` says where the new branch starts, or a `history` after a switch).
'use strict';

(function () {
  const { el, button } = window.ChatUtil;
  const svg = window.ChatUtil.icon;
  const ICONS = {  // Feather icons (MIT)
    previous: svg('M15 18l-6-6 6-6'),
    next: svg('M9 18l6-6-6-6'),
    regenerate: svg('M23 4v6h-6M1 20v-6h6M3.51 9a9 9 0 0 1 14.85-3.36L23 10M1 14l4.64 4.36A9 9 0 0 0 20.49 15'),
    continue: svg('M5 12h14M12 5l7 7-7 7'),
    edit: svg('M12 20h9M16.5 3.5a2.12 2.12 0 0 1 3 3L7 19l-4 1 1-4z'),
  };

  function iconButton(cls, icon, label, text) {
    const b = button(`branch-button ${cls}`, null, label, null);
    b.innerHTML = ICONS[icon];  // a constant
    if (text) b.append(el('span', 'branch-label', text));
    b.title = label;
    return b;
  }

  // "< 2/3 >" for a message with other versions; nothing for one without.
  function switcher(id, siblings) {
    if (!siblings || siblings.length < 2) return null;
    const at = siblings.indexOf(id);
    const box = el('div', 'branch-switch');
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', gettext('Versions of this message'));
    const previous = iconButton('branch-previous', 'previous', gettext('Previous version'));
    const next = iconButton('branch-next', 'next', gettext('Next version'));
    previous.dataset.target = siblings[at - 1] || '';
    next.dataset.target = siblings[at + 1] || '';
    previous.disabled = at <= 0;
    next.disabled = at < 0 || at >= siblings.length - 1;
    box.append(previous, el('span', 'branch-position', `${at + 1}/${siblings.length}`), next);
    return box;
  }

  // The controls of one bubble. `m`: {id, role, status, siblings, content, finishReason,
  // last}: `last` when it ends the path shown (only that answer can be continued).
  function controls(m) {
    const items = [];
    const settled = m.id && !['streaming', 'pending', 'queued', 'failed'].includes(m.status);
    const nav = switcher(m.id, m.siblings);
    if (nav) items.push(nav);
    if (!settled) return items;
    if (m.role === 'assistant') {
      items.push(iconButton('branch-regenerate', 'regenerate', gettext('Regenerate this answer (the current one is kept)'), gettext('Regenerate')));
      const cut = m.status === 'stopped' || m.status === 'error' || m.finishReason === 'length';
      if (m.last && cut && m.content) {
        items.push(iconButton('branch-continue', 'continue', gettext('Continue this answer from where it stopped'), gettext('Continue')));
      }
    } else if (m.role === 'user') {
      items.push(iconButton('branch-edit', 'edit', gettext('Edit this message (the current one is kept)'), gettext('Edit')));
    }
    return items;
  }

  // An in-place editor for a question: resolves with the new text, or null (cancelled).
  function edit(bubble, text) {
    return new Promise((resolve) => {
      const node = bubble.querySelector('.message-text');
      const shown = [...node.childNodes];
      const form = el('form', 'branch-editor');
      const area = el('textarea', 'branch-editor-input');
      area.value = text;
      area.rows = Math.min(12, Math.max(2, text.split('\n').length));
      area.setAttribute('aria-label', gettext('Edited message'));
      const save = el('button', 'primary branch-editor-save', gettext('Send edited'));
      save.type = 'submit';
      const cancel = el('button', 'branch-editor-cancel', gettext('Cancel'));
      cancel.type = 'button';
      const row = el('div', 'branch-editor-actions');
      row.append(cancel, save);
      form.append(area, row);
      node.replaceChildren(form);
      bubble.classList.add('editing');
      const done = (value) => {
        bubble.classList.remove('editing');
        node.replaceChildren(...shown);
        resolve(value);
      };
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        const value = area.value.trim();
        done(value && value !== text.trim() ? value : null);
      });
      cancel.addEventListener('click', () => done(null));
      area.addEventListener('keydown', (e) => {
        if (e.key === 'Escape') { e.stopPropagation(); done(null); }
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
          e.preventDefault();
          form.requestSubmit();
        }
      });
      area.focus();
      area.setSelectionRange(area.value.length, area.value.length);
    });
  }

  // Handles a click in the message list; returns true when it was on a branch control.
  // `send(frame)` sends a frame; `textOf(id)` gives a message's raw text.
  function onClick(target, send, textOf) {
    const b = target.closest('.branch-button');
    if (!b) return false;
    const bubble = b.closest('.message');
    const id = bubble && bubble.dataset.id;
    if (!id || b.disabled) return true;
    if (b.dataset.target) send({ type: 'switch', message_id: b.dataset.target });
    else if (b.classList.contains('branch-regenerate')) send({ type: 'regenerate', message_id: id });
    else if (b.classList.contains('branch-continue')) send({ type: 'continue', message_id: id });
    else if (b.classList.contains('branch-edit') && !bubble.classList.contains('editing')) {
      edit(bubble, textOf(id)).then((content) => {
        if (content) send({ type: 'edit', message_id: id, content });
      });
    }
    return true;
  }

  window.ChatBranches = { controls, onClick };
}());
