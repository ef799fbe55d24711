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
  const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

  function say(text, isError, conversations) {
    status.textContent = text;
    status.classList.toggle('is-error', Boolean(isError));
    if (!conversations || !conversations.length) return;
    const list = document.createElement('ul');
    for (const c of conversations) {
      const link = Object.assign(document.createElement('a'), { href: `/c/${c.id}/` });
      link.textContent = c.title || 'Untitled conversation';
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
      say((body && body.error && body.error.message) || `The import failed (HTTP ${xhr.status}).`, true);
      return;
    }
    const parts = [`Imported ${body.imported} conversation${body.imported === 1 ? '' : 's'} (${body.messages} messages).`];
    if (body.already_imported) parts.push(`${body.already_imported} already imported before: left as they are.`);
    if (body.left_out) parts.push(`${body.left_out} system, tool or hidden messages left out.`);
    say(parts.join(' '), false, body.conversations);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) { say('Choose a file first.', true); return; }
    if (maxBytes && chosen.size > maxBytes) {
      say(`The file is ${mb(chosen.size)}; an import may be at most ${mb(maxBytes)}.`, true);
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
      say(progress.value < 100 ? `Uploading… ${progress.value}%` : 'Reading the file…');
    });
    xhr.addEventListener('load', () => done(xhr));
    xhr.addEventListener('error', () => done(xhr));
    submit.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    say('Uploading…');
    xhr.send(data);
  });
})();
