// Files in the conversation (issue #25): the Attach button, dropping files on the chat,
// pasting one (a screenshot) into the message box; each is uploaded at once and shown
// in the tray above the box (name, size, a thumbnail for images, its progress or the
// server's refusal, a × to take it back), then sent by id with the next message
// (composer.js). A message's files are shown in its bubble (render.js: fileList).
import { config, els, util } from './page.js';
import { AttachTray, noImagesModel } from './attachtray.js';
import { formatBytes, formatNumber, gettext, interpolate } from './i18n.js';

const { el, button } = util;
const CLIP_ICON = util.icon('M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48');
const FILE_ICON = util.icon('M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z M14 2v6h6');

const tray = new AttachTray({ maxFiles: config.attachment_max_per_message, maxBytes: config.attachment_max_bytes });
let conversation = null;  // the open (or draft) conversation's settings: its model decides about images
let trayEl = null;
let onTrayChange = () => {};  // the composer's (its Send waits for the uploads)

// A file as a link (a download: the server never shows one inline), with a thumbnail
// for an image, its name and size.
function fileChip(f, className = 'file-chip') {
  const link = el('a', className);
  link.href = f.url;
  link.setAttribute('download', f.name);
  link.title = interpolate(gettext('Download %(name)s'), { name: f.name }, true);
  link.append(thumbnail(f.kind === 'image' ? f.url : null), el('span', 'file-name', f.name),
    el('span', 'file-size', formatBytes(f.size)));
  return link;
}

function thumbnail(src) {
  if (!src) {
    const icon = el('span', 'file-icon');
    icon.innerHTML = FILE_ICON;  // a constant
    return icon;
  }
  const img = el('img', 'file-thumb');
  Object.assign(img, { src, alt: '', loading: 'lazy', decoding: 'async' });
  return img;
}

// The files a message carries, for its bubble (none: null).
export function fileList(files) {
  if (!files || !files.length) return null;
  const list = el('div', 'message-files');
  list.setAttribute('aria-label', gettext('Attached files'));
  list.append(...files.map((f) => fileChip(f)));
  return list;
}

function renderTray() {
  trayEl.hidden = tray.isEmpty;
  trayEl.replaceChildren(...tray.items.map((entry) => {
    const item = el('div', 'tray-item');
    item.dataset.state = entry.state;
    const info = entry.state === 'ready' ? fileChip(entry.stored, 'file-chip tray-file')
      : el('span', 'file-chip tray-file');
    if (entry.state !== 'ready') info.append(thumbnail(null), el('span', 'file-name', entry.name));
    if (entry.state === 'uploading') {
      const pct = formatNumber(entry.progress, { style: 'percent' });
      info.append(el('span', 'file-size', interpolate(gettext('uploading %(percent)s'), { percent: pct }, true)));
    }
    item.append(info);
    if (entry.state === 'failed') item.append(el('span', 'tray-error', entry.error));
    const label = interpolate(gettext('Remove %(name)s'), { name: entry.name }, true);
    item.append(button('icon-button tray-remove', '×', label, () => removeEntry(entry.key)));
    return item;
  }));
  onTrayChange();
}

function removeEntry(key) {
  const entry = tray.remove(key);
  if (entry && entry.stored) forget(entry.stored);
  renderTray();
  els.input.focus();
}

// An unsent stored file taken back: deleted on the server (best effort: a file never
// sent is the user's to delete, and counts against their storage until then).
function forget(stored) {
  util.request(stored.url, 'DELETE').catch(() => {});
}

function upload(entry) {
  const xhr = new XMLHttpRequest();
  const body = new FormData();
  body.append('file', entry.file, entry.name);
  xhr.open('POST', config.attachments_url);
  xhr.setRequestHeader('X-CSRFToken', util.csrfToken());
  xhr.setRequestHeader('Accept', 'application/json');
  xhr.responseType = 'json';
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) tray.progress(entry.key, e.loaded / e.total);
    renderTray();
  };
  xhr.onload = () => {
    const data = xhr.response || {};
    if (xhr.status === 401) location.href = util.loginUrl();
    if (xhr.status === 201) {
      if (!tray.uploaded(entry.key, data)) forget(data);  // removed while it uploaded
    } else {
      const err = data.error || {};
      tray.failed(entry.key, err.message || interpolate(gettext('Upload failed (%(status)s).'), { status: xhr.status }, true));
    }
    renderTray();
  };
  xhr.onerror = () => {
    tray.failed(entry.key, gettext('Upload failed: the server could not be reached.'));
    renderTray();
  };
  xhr.send(body);
}

export function addFiles(files) {
  const { added, refused } = tray.add([...files]);
  for (const reason of refused) showTrayNotice(reason);
  renderTray();
  added.forEach(upload);
}

function showTrayNotice(text) {
  els.hint.textContent = text;
  els.hint.classList.add('over');
}

// Why the message cannot go yet (uploads running, an image for a model without
// images), or null.
export function attachmentsBlocker() {
  if (tray.uploading) return gettext('Wait until the files are uploaded.');
  const label = tray.hasImages ? noImagesModel(config.models, conversation && conversation.model) : null;
  if (label) return interpolate(gettext('The model %(model)s does not read images: remove them or choose another model.'), { model: label }, true);
  return null;
}

// Files in the tray (a message without text cannot carry them alone).
export const attachmentsWaiting = () => !tray.isEmpty;

// Files still uploading: the message cannot go yet.
export const attachmentsUploading = () => tray.uploading;

// The files to send with the message (the tray is emptied).
export function takeAttachments() {
  const files = tray.take();
  renderTray();
  return files;
}

// A refused or cancelled message's files, back in an empty tray.
export function giveBackAttachments(files) {
  if (tray.restore(files)) renderTray();
}

function hasFiles(e) {
  return Boolean(e.dataTransfer) && [...e.dataTransfer.types].includes('Files');
}

function wireDrop(zone) {
  zone.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();  // allows the drop
    e.dataTransfer.dropEffect = 'copy';
    els.composer.classList.add('drop-target');
  });
  zone.addEventListener('dragleave', (e) => {
    if (!zone.contains(e.relatedTarget)) els.composer.classList.remove('drop-target');
  });
  zone.addEventListener('drop', (e) => {
    els.composer.classList.remove('drop-target');
    if (!hasFiles(e) || !e.dataTransfer.files.length) return;
    e.preventDefault();
    addFiles(e.dataTransfer.files);
  });
}

// `changed`: called whenever the tray changes (composer.js: updateComposer).
export function wireAttachments(changed) {
  onTrayChange = changed;
  trayEl = document.getElementById('attach-tray');
  const input = document.getElementById('attach-input');
  document.getElementById('attach-button').addEventListener('click', () => input.click());
  document.getElementById('attach-button').insertAdjacentHTML('afterbegin', CLIP_ICON);
  input.addEventListener('change', () => {
    addFiles(input.files);
    input.value = '';  // the same file may be chosen again
  });
  // A pasted screenshot (or copied file) is attached; pasted text stays text.
  els.input.addEventListener('paste', (e) => {
    const data = e.clipboardData;
    if (!data || !data.files.length || data.types.includes('text/plain')) return;
    e.preventDefault();
    addFiles(data.files);
  });
  wireDrop(els.composer);
  wireDrop(els.messages);
  document.addEventListener('chat:conversation', (e) => { conversation = e.detail; });
}
