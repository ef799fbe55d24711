// The settings page's "Export / Import": uploads the chosen file to /api/import/ with
// XMLHttpRequest (fetch cannot report upload progress), shows the upload's progress,
// then what was imported (links to the conversations) or the server's error message.
'use strict';

(function () {
  const form = document.getElementById('import-form');
  if (!form) return;
  const file = document.getElementById('import-file');
  const submit = document.getElementById('import-submit');
  const progress = document.getElementById('import-progress');
  const status = document.getElementById('import-status');
  const maxBytes = Number(form.dataset.maxBytes) || 0;
  const lang = document.documentElement.lang || undefined;  // the page's language
  const mb = (n) => new Intl.NumberFormat(lang, { style: 'unit', unit: 'megabyte', maximumFractionDigits: 1, minimumFractionDigits: 1 }).format(n / 1e6);

  function say(text, isError, conversations) {
    status.textContent = text;
    status.classList.toggle('is-error', Boolean(isError));
    if (!conversations || !conversations.length) return;
    const list = document.createElement('ul');
    for (const c of conversations) {
      const link = Object.assign(document.createElement('a'), { href: `/c/${c.id}/` });
      link.textContent = c.title || gettext('Untitled conversation');
      const item = document.createElement('li');
      item.append(link);
      list.append(item);
    }
    status.append(list);
  }

  function done(xhr) {
    submit.disabled = false;
    progress.hidden = true;
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: below */ }
    if (xhr.status >= 400 || !body) {
      say((body && body.error && body.error.message) ||
        interpolate(gettext('The import failed (HTTP %(status)s).'), { status: xhr.status }, true), true);
      return;
    }
    const parts = [interpolate(ngettext('Imported %(n)s conversation (%(messages)s messages).',
      'Imported %(n)s conversations (%(messages)s messages).', body.imported), { n: body.imported, messages: body.messages }, true)];
    if (body.already_imported) {
      parts.push(interpolate(gettext('%(n)s already imported before: left as they are.'), { n: body.already_imported }, true));
    }
    if (body.left_out) parts.push(interpolate(gettext('%(n)s system, tool or hidden messages left out.'), { n: body.left_out }, true));
    say(parts.join(' '), false, body.conversations);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) { say(gettext('Choose a file first.'), true); return; }
    if (maxBytes && chosen.size > maxBytes) {
      say(interpolate(gettext('The file is %(size)s; an import may be at most %(max)s.'), { size: mb(chosen.size), max: mb(maxBytes) }, true), true);
      return;
    }
    const data = new FormData();
    data.append('file', chosen);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.setRequestHeader('X-CSRFToken', form.querySelector('[name=csrfmiddlewaretoken]').value);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable) return;
      progress.value = Math.round((e.loaded / e.total) * 100);
      const percent = new Intl.NumberFormat(lang, { style: 'percent' }).format(progress.value / 100);
      say(progress.value < 100 ? interpolate(gettext('Uploading… %(percent)s'), { percent }, true) : gettext('Reading the file…'));
    });
    xhr.addEventListener('load', () => done(xhr));
    xhr.addEventListener('error', () => done(xhr));
    submit.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    say(gettext('Uploading…'));
    xhr.send(data);
  });
})();
