// How the open conversation is answered, and saved presets. Loaded after the chat page's modules (main.js)
// and settingsform.js (the dialog that edits a conversation's settings or a preset).
// - The model picker (#model-select) shows the conversation's model; a change PATCHes the
//   conversation and applies to the next answer (earlier answers keep their model).
// - "Instructions" opens a dialog: the system prompt, the temperature, Save, and
//   "Save as preset…".
// - The presets button (next to "New chat") lists the user's presets: start a chat from
//   one, edit it, delete it, or make a new one.
// The chat page (main.js, frames.js) tells this file which conversation is open, and its settings, with a
// `chat:conversation` event (from its `history` and `conversation` frames: every tab
// follows a change made in any tab; a new chat not yet saved comes with an empty id, and
// its settings are kept in that object until its first message saves them); a
// `chat:new-chat` event {model, instructions, temperature} asks it to start a new chat
// from a preset, the way its "New chat" button does.
'use strict';

(function () {
  const { el, button, request } = window.ChatUtil;
  const Dialogs = window.ChatDialogs;
  const $ = (id) => document.getElementById(id);
  const els = { model: $('model-select'), instructions: $('instructions-button'), presets: $('presets-button') };
  if (!els.model || !els.instructions || !els.presets) return;

  const configEl = document.getElementById('chat-config');
  const config = configEl ? JSON.parse(configEl.textContent) : {};
  const models = config.models || [];
  const NAME_MAX = window.ChatSettingsForm.NAME_MAX;
  const svg = window.ChatUtil.icon;
  const ICONS = {
    start: svg('M12 5v14M5 12h14'),
    edit: svg('M12 20h9M16.5 3.5a2.12 2.12 0 0 1 3 3L7 19l-4 1 1-4z'),
    delete: svg('M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6M10 11v6M14 11v6'),
  };

  let current = null;  // the open conversation's {id, title, model, instructions, temperature}

  const modelKey = (key) => (models.some((m) => m.key === key) ? key : (models[0] || {}).key || '');
  const modelLabel = (key) => (models.find((m) => m.key === modelKey(key)) || { label: key }).label;
  const notify = (text) => Dialogs.toast({ text, ms: 5000 });

  // ---- the conversation -------------------------------------------------------

  function show(c) {
    current = c;
    els.model.disabled = els.instructions.disabled = !c;
    if (!c) return;
    els.model.value = modelKey(c.model);
    els.instructions.classList.toggle('has-instructions', Boolean(c.instructions));
  }

  async function patchConversation(changes) {
    if (!current) return null;
    if (!current.id) {  // a new chat (see above): saved, with these, by its first message
      show(Object.assign(current, changes));
      return current;
    }
    const id = current.id;
    const data = await request(`/api/conversations/${encodeURIComponent(id)}/`, 'PATCH', changes);
    if (current && current.id === id) show(Object.assign(current, pick(data)));
    return data;
  }

  const pick = (d) => ({ title: d.title, model: d.model, instructions: d.instructions, temperature: d.temperature });

  async function onModelChange() {
    const chosen = els.model.value;
    try {
      await patchConversation({ model: chosen });
      notify(interpolate(gettext('%(model)s answers your next message.'), { model: modelLabel(chosen) }, true));
    } catch (e) {
      if (current) els.model.value = modelKey(current.model);
      notify(interpolate(gettext('Could not change the model: %(error)s'), { error: e.message }, true));
    }
  }

  // The settings form (static/chat/settingsform.js): a conversation's, or a preset's.
  const openForm = window.ChatSettingsForm.create(models).open;

  function openInstructions() {
    if (!current) return;
    openForm({
      title: gettext('Instructions for this conversation'),
      values: current,
      onSave: async (values) => {
        await patchConversation(values);
        notify(gettext('Instructions saved: they apply from your next message.'));
      },
      onSaveAsPreset: saveAsPreset,
    });
  }

  async function saveAsPreset(values) {
    const name = await Dialogs.ask({
      title: gettext('Save as preset'), confirm: gettext('Save'),
      text: gettext('The instructions, temperature and model of this conversation, under a name.'),
      field: { label: gettext('Name'), maxLength: NAME_MAX, required: true },
    });
    if (!name) return;
    try {
      const preset = await request('/api/presets/', 'POST',
        { ...values, name, model: current ? current.model : '' });
      notify(interpolate(gettext('Saved the preset “%(name)s”.'), { name: preset.name }, true));
    } catch (e) {
      notify(interpolate(gettext('Could not save the preset: %(error)s'), { error: e.message }, true));
    }
  }

  // ---- presets ------------------------------------------------------------------

  let list = null;  // the presets dialog: {dialog, items, empty}

  function buildList() {
    const dialog = el('dialog', 'app-dialog presets-dialog');
    dialog.id = 'presets-dialog';
    dialog.setAttribute('aria-labelledby', 'presets-dialog-title');
    const title = el('h2', 'app-dialog-title', gettext('Presets'));
    title.id = 'presets-dialog-title';
    const text = el('p', 'app-dialog-text', gettext('Start a new chat with saved instructions, model and temperature.'));
    const items = el('ul', 'preset-items');
    const empty = el('p', 'settings-hint', gettext('No presets yet.'));
    const buttons = el('div', 'app-dialog-buttons');
    const add = button('preset-new', gettext('New preset…'), gettext('New preset'), () => editPreset(null));
    const close = button('primary preset-close', gettext('Close'), gettext('Close'), () => dialog.close());
    buttons.append(add, close);
    dialog.append(title, text, items, empty, buttons);
    dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close(); });
    document.body.append(dialog);
    list = { dialog, items, empty };
  }

  const iconButton = (className, icon, label, onClick) => {
    const b = button(`icon-button ${className}`, null, label, onClick);
    b.innerHTML = icon;  // a constant
    b.title = label;
    return b;
  };

  function presetItem(p) {
    const li = el('li', 'preset-item');
    li.dataset.id = p.id;
    const start = button('preset-start', p.name, interpolate(gettext('New chat with “%(name)s”'), { name: p.name }, true), () => {
      list.dialog.close();
      const detail = { model: p.model, instructions: p.instructions, temperature: p.temperature };
      document.dispatchEvent(new CustomEvent('chat:new-chat', { detail }));
    });
    start.title = interpolate(gettext('New chat: %(model)s'), { model: modelLabel(p.model) }, true) +
      (p.instructions ? ` \u2014 ${p.instructions.slice(0, 120)}` : '');
    li.append(start,
      iconButton('preset-edit', ICONS.edit, interpolate(gettext('Edit “%(name)s”'), { name: p.name }, true), () => editPreset(p)),
      iconButton('preset-delete', ICONS.delete, interpolate(gettext('Delete “%(name)s”'), { name: p.name }, true), () => deletePreset(p)));
    return li;
  }

  async function refreshList() {
    const presets = (await request('/api/presets/')).presets || [];
    list.items.replaceChildren(...presets.map(presetItem));
    list.empty.hidden = presets.length > 0;
  }

  async function openPresets() {
    if (!list) buildList();
    if (list.dialog.open) return;
    list.items.replaceChildren();
    list.empty.hidden = true;
    const focused = document.activeElement;
    list.dialog.addEventListener('close', () => {
      if (focused && focused.isConnected && focused.focus) focused.focus();
    }, { once: true });
    list.dialog.showModal();
    try {
      await refreshList();
    } catch (e) {
      list.empty.textContent = interpolate(gettext('Could not load your presets: %(error)s'), { error: e.message }, true);
      list.empty.hidden = false;
    }
    const first = list.items.querySelector('button') || list.dialog.querySelector('.preset-new');
    first.focus();
  }

  function editPreset(p) {
    openForm({
      title: p ? interpolate(gettext('Edit “%(name)s”'), { name: p.name }, true) : gettext('New preset'),
      values: p || { model: current ? current.model : '' },
      withName: true,
      withModel: true,
      onSave: async (values) => {
        if (p) await request(`/api/presets/${p.id}/`, 'PATCH', values);
        else await request('/api/presets/', 'POST', values);
        await refreshList();
      },
    });
  }

  async function deletePreset(p) {
    const ok = await Dialogs.ask({
      title: gettext('Delete preset?'), confirm: gettext('Delete'), danger: true,
      text: interpolate(gettext('“%(name)s” will be deleted. Conversations started from it keep their instructions.'), { name: p.name }, true),
    });
    if (!ok) return;
    try {
      await request(`/api/presets/${p.id}/`, 'DELETE');
      await refreshList();
    } catch (e) {
      notify(interpolate(gettext('Could not delete the preset: %(error)s'), { error: e.message }, true));
    }
  }

  // ---- wiring -------------------------------------------------------------------

  document.addEventListener('chat:conversation', (e) => show(e.detail));
  els.model.addEventListener('change', onModelChange);
  els.instructions.addEventListener('click', openInstructions);
  els.presets.addEventListener('click', openPresets);
  // The phone toolbar's "New chat" does exactly what the drawer's does (main.js owns it).
  const toolbarNewChat = $('toolbar-new-chat');
  if (toolbarNewChat) toolbarNewChat.addEventListener('click', () => $('new-chat').click());
  show(null);
}());
