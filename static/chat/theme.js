// The appearance switch (#theme-switch in the chat toolbar): System, Light, Dark in turn.
// A choice applies at once (data-theme on <html>, which chat.css reads, the color-scheme
// meta, the code colouring stylesheets' media) and is saved for the user (PATCH
// /api/preferences/), so the server renders every page of theirs that way from then on.
// Loaded after util.js and dialogs.js.
'use strict';

(function () {
  const button = document.getElementById('theme-switch');
  if (!button) return;
  const { request } = window.ChatUtil;
  const Dialogs = window.ChatDialogs;
  const NEXT = { system: 'light', light: 'dark', dark: 'system' };
  const NAMES = { system: gettext('System'), light: gettext('Light'), dark: gettext('Dark') };
  // The code stylesheets' media when the page follows the device (templatetags/chat_theme.py).
  const SYSTEM_MEDIA = {
    light: '(prefers-color-scheme: light), (prefers-color-scheme: no-preference)',
    dark: '(prefers-color-scheme: dark)',
  };
  let saving = Promise.resolve();

  function show(choice) {
    button.dataset.choice = choice;
    const label = interpolate(gettext('Appearance: %(now)s (next: %(next)s)'), { now: NAMES[choice], next: NAMES[NEXT[choice]] }, true);
    button.setAttribute('aria-label', label);
    button.title = label;
  }

  function apply(choice) {
    const root = document.documentElement;
    if (choice === 'system') delete root.dataset.theme;
    else root.dataset.theme = choice;
    const meta = document.querySelector('meta[name="color-scheme"]');
    if (meta) meta.content = choice === 'system' ? 'light dark' : choice;
    for (const scheme of ['light', 'dark']) {
      const link = document.getElementById(`code-theme-${scheme}`);
      if (!link) continue;
      link.media = choice === 'system' ? SYSTEM_MEDIA[scheme] : (choice === scheme ? 'all' : 'not all');
    }
    show(choice);
  }

  function choose() {
    const before = button.dataset.choice in NEXT ? button.dataset.choice : 'system';
    const choice = NEXT[before];
    apply(choice);
    Dialogs.toast({ text: interpolate(gettext('Appearance: %(now)s'), { now: NAMES[choice] }, true), ms: 2500 });
    // Saves one after the other, so the last choice is the one kept.
    saving = saving.then(() => request('/api/preferences/', 'PATCH', { theme: choice })).catch((e) => {
      if (button.dataset.choice === choice) apply(before);
      Dialogs.toast({ text: interpolate(gettext('Could not save the appearance: %(error)s'), { error: e.message }, true), ms: 5000 });
    });
  }

  button.addEventListener('click', choose);
  show(button.dataset.choice in NEXT ? button.dataset.choice : 'system');
}());
