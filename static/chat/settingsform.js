// The settings form of the chat page (settings.js): a conversation's instructions and
// temperature, or a preset's name, model, instructions and temperature, in one modal
// <dialog> built once. Loaded before settings.js.
// Exposes window.ChatSettingsForm = { create(models) -> { open({title, values, withName,
// withModel, onSave(values), onSaveAsPreset(values)}) } }; `models`: [{key, label}].
'use strict';

(function () {
  const { el } = window.ChatUtil;
  const MAX_INSTRUCTIONS = 8000;
  const NAME_MAX = 100;

  function create(models) {
    const modelKey = (key) => (models.some((m) => m.key === key) ? key : (models[0] || {}).key || '');

    let form = null;  // {dialog, fields…}, built once

    function buildForm() {
      const dialog = el('dialog', 'app-dialog settings-dialog');
      dialog.id = 'settings-dialog';
      dialog.setAttribute('aria-labelledby', 'settings-dialog-title');
      const f = el('form', 'app-dialog-form');
      f.method = 'dialog';
      const title = el('h2', 'app-dialog-title');
      title.id = 'settings-dialog-title';
      const field = (id, labelText, input, hint) => {
        const wrap = el('div', 'settings-field');
        const label = el('label', 'app-dialog-label', labelText);
        label.htmlFor = input.id = id;
        wrap.append(label, input);
        if (hint) {
          const p = el('p', 'settings-hint', hint);
          p.id = `${id}-hint`;
          input.setAttribute('aria-describedby', p.id);
          wrap.append(p);
        }
        return wrap;
      };
      const name = el('input', 'app-dialog-input');
      Object.assign(name, { type: 'text', maxLength: NAME_MAX });
      const model = el('select', 'app-dialog-input');
      model.append(...models.map((m) => Object.assign(el('option', null, m.label), { value: m.key })));
      const instructions = el('textarea', 'app-dialog-input settings-instructions');
      Object.assign(instructions, { rows: 8, maxLength: MAX_INSTRUCTIONS,
        placeholder: gettext('Empty: the default instructions of this server apply.') });
      const temperature = el('input', 'app-dialog-input settings-temperature');
      Object.assign(temperature, { type: 'number', min: '0', max: '2', step: '0.1', placeholder: gettext('default') });
      const error = el('p', 'settings-error');
      error.setAttribute('role', 'alert');
      error.hidden = true;
      const buttons = el('div', 'app-dialog-buttons');
      const asPreset = el('button', 'settings-save-preset', gettext('Save as preset…'));
      asPreset.type = 'button';
      const cancel = el('button', 'app-dialog-cancel', gettext('Cancel'));
      cancel.type = 'button';
      cancel.addEventListener('click', () => dialog.close('cancel'));
      const save = el('button', 'settings-save primary', gettext('Save'));
      save.type = 'submit';
      buttons.append(asPreset, cancel, save);
      const rows = {
        name: field('settings-name', gettext('Name'), name),
        model: field('settings-model', gettext('Model'), model),
        instructions: field('settings-instructions', gettext('Instructions (system prompt)'), instructions,
          gettext('Sent to the model before the conversation. Empty: the server’s default applies.')),
        temperature: field('settings-temperature', gettext('Temperature (0 to 2)'), temperature,
          gettext('Lower is more focused, higher more varied. Empty: the model’s default.')),
      };
      f.append(title, rows.name, rows.model, rows.instructions, rows.temperature, error, buttons);
      dialog.append(f);
      dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close('cancel'); });
      document.body.append(dialog);
      form = { dialog, form: f, title, name, model, instructions, temperature, error, asPreset, save, rows };
    }

    function formValues(withName, withModel) {
      const t = form.temperature.value.trim();
      const values = { instructions: form.instructions.value, temperature: t === '' ? null : Number(t) };
      if (withName) values.name = form.name.value.trim();
      if (withModel) values.model = form.model.value;
      return values;
    }

    // Opens the form; `onSave(values)` runs on Save and closes it when it resolves (a
    // rejection is shown in the form, which stays open). `onSaveAsPreset(values)` adds the
    // "Save as preset…" button.
    function openForm({ title, values, withName = false, withModel = false, onSave, onSaveAsPreset = null }) {
      if (!form) buildForm();
      if (form.dialog.open) return;
      form.title.textContent = title;
      form.rows.name.hidden = !withName;
      form.name.required = withName;
      form.rows.model.hidden = !withModel;
      form.name.value = values.name || '';
      form.model.value = modelKey(values.model);
      form.instructions.value = values.instructions || '';
      form.temperature.value = values.temperature == null ? '' : String(values.temperature);
      form.error.hidden = true;
      form.asPreset.hidden = !onSaveAsPreset;
      form.asPreset.onclick = onSaveAsPreset && (() => onSaveAsPreset(formValues(false, false)));
      form.form.onsubmit = async (e) => {
        e.preventDefault();
        if (!form.form.reportValidity()) return;
        form.save.disabled = true;
        try {
          await onSave(formValues(withName, withModel));
          form.dialog.close('ok');
        } catch (err) {
          form.error.textContent = err.message;
          form.error.hidden = false;
        } finally {
          form.save.disabled = false;
        }
      };
      const focused = document.activeElement;
      form.dialog.addEventListener('close', () => {
        if (focused && focused.isConnected && focused.focus) focused.focus();
      }, { once: true });
      form.dialog.showModal();
      (withName ? form.name : form.instructions).focus();
    }

    return { open: openForm };
  }

  window.ChatSettingsForm = { create, NAME_MAX };
}());
