// In-page dialogs and a toast, instead of the browser's prompt()/confirm() pop-ups.
// One modal <dialog> is reused: showModal() traps the focus, Escape cancels, Enter in
// the text field confirms, and the focus returns to where it was.
// Exposes window.ChatDialogs = { ask({...}) -> Promise<string|boolean|null>, toast({...}) }.
'use strict';

(function () {
  const { el } = window.ChatUtil;
  let dialog = null;

  function build() {
    dialog = el('dialog', 'app-dialog');
    dialog.id = 'app-dialog';
    dialog.setAttribute('aria-labelledby', 'app-dialog-title');
    const form = el('form', 'app-dialog-form');
    form.method = 'dialog';
    const title = el('h2', 'app-dialog-title');
    title.id = 'app-dialog-title';
    const text = el('p', 'app-dialog-text');
    text.id = 'app-dialog-text';
    const label = el('label', 'app-dialog-label');
    const input = el('input', 'app-dialog-input');
    input.id = 'app-dialog-input';
    input.type = 'text';
    label.htmlFor = input.id;
    const buttons = el('div', 'app-dialog-buttons');
    const cancel = el('button', 'app-dialog-cancel', gettext('Cancel'));
    cancel.type = 'button';  // only the confirm button submits: Enter in the field confirms
    cancel.addEventListener('click', () => dialog.close('cancel'));
    const ok = el('button', 'app-dialog-ok primary');
    ok.type = 'submit';
    ok.value = 'ok';
    buttons.append(cancel, ok);
    form.append(title, text, label, input, buttons);
    dialog.append(form);
    // A click on the backdrop (outside the form) cancels, as Escape does.
    dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close('cancel'); });
    document.body.append(dialog);
  }

  // Shows the dialog; resolves with the field's text (when `field` is given), true (a plain
  // confirmation), or null when cancelled (Cancel, Escape, a click outside).
  // field: {label, value, maxLength, required}
  function ask({ title, text = '', confirm = gettext('OK'), danger = false, field = null }) {
    if (!dialog) build();
    if (dialog.open) return Promise.resolve(null);  // modal: nothing behind it can ask twice
    const q = (sel) => dialog.querySelector(sel);
    const input = q('.app-dialog-input');
    q('.app-dialog-title').textContent = title;
    q('.app-dialog-text').textContent = text;
    q('.app-dialog-text').hidden = !text;
    q('.app-dialog-label').textContent = field ? field.label : '';
    q('.app-dialog-label').hidden = input.hidden = !field;
    input.value = field ? field.value || '' : '';
    input.required = Boolean(field && field.required);
    if (field && field.maxLength) input.maxLength = field.maxLength;
    else input.removeAttribute('maxlength');
    const ok = q('.app-dialog-ok');
    ok.textContent = confirm;
    ok.classList.toggle('danger', danger);
    if (text) dialog.setAttribute('aria-describedby', 'app-dialog-text');
    else dialog.removeAttribute('aria-describedby');
    dialog.returnValue = '';
    const focused = document.activeElement;
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => {
        if (focused && focused.isConnected && focused.focus) focused.focus();
        if (dialog.returnValue !== 'ok') resolve(null);
        else resolve(field ? input.value.trim() : true);
      }, { once: true });
      dialog.showModal();
      if (field) input.select();
      else (danger ? q('.app-dialog-cancel') : ok).focus();
    });
  }

  // A short message below the chat toolbar with an optional action button ("Undo").
  // Calls onTimeout after `ms` unless the action was taken or dismiss() was called first.
  // Returns {dismiss()}. A new toast replaces the one shown (the old one's onTimeout runs).
  let current = null;
  function toast({ text, action = null, onAction = null, onTimeout = null, ms = 6000 }) {
    if (current) current.finish(true);
    const region = document.getElementById('toast-region');
    const box = el('div', 'toast');
    box.append(el('span', 'toast-text', text));
    let done = false;
    const handle = {
      finish(timedOut) {
        if (done) return;
        done = true;
        clearTimeout(timer);
        box.remove();
        if (current === handle) current = null;
        if (timedOut && onTimeout) onTimeout();
      },
      dismiss() { handle.finish(false); },
    };
    if (action) {
      const b = el('button', 'toast-action', action);
      b.type = 'button';
      b.addEventListener('click', () => {
        handle.finish(false);
        if (onAction) onAction();
      });
      box.append(b);
    }
    const timer = setTimeout(() => handle.finish(true), ms);
    (region || document.body).append(box);
    current = handle;
    return handle;
  }

  window.ChatDialogs = { ask, toast };
}());
