// The files waiting to go with the next message (issue #25): chosen by the Attach
// button, dropped or pasted, uploaded at once (POST /api/attachments/), then sent by
// id with the message. Pure, no DOM: tests/js/attachtray.test.mjs runs it under node.
// attachments.js draws it and does the uploads.
import { formatBytes, gettext, interpolate } from './i18n.js';

// The model's label when it cannot read images (`models`: the page's config.models;
// an unknown or empty key is the default, the first), else null.
export function noImagesModel(models, key) {
  const model = (models || []).find((m) => m.key === key) || (models || [])[0];
  return model && model.images === false ? model.label : null;
}

export class AttachTray {
  constructor({ maxFiles = 5, maxBytes = 10_000_000 } = {}) {
    this.maxFiles = maxFiles;
    this.maxBytes = maxBytes;
    this.items = [];  // {key, name, size, image, state: uploading|ready|failed, progress, file, error}
    this.nextKey = 1;
  }

  // Files chosen: each that fits becomes an entry to upload; the others are refused
  // with a sentence each (nothing is uploaded for them).
  add(files) {
    const added = [];
    const refused = [];
    for (const file of files) {
      const reason = this.refusal(file);
      if (reason) {
        refused.push(reason);
        continue;
      }
      const entry = {
        key: this.nextKey++, name: file.name || gettext('pasted file'), size: file.size,
        image: /^image\//.test(file.type || ''), state: 'uploading', progress: 0, file, error: '',
      };
      this.items.push(entry);
      added.push(entry);
    }
    return { added, refused };
  }

  refusal(file) {
    const name = file.name || gettext('pasted file');
    if (this.items.filter((i) => i.state !== 'failed').length >= this.maxFiles) {
      return interpolate(gettext('A message may carry at most %(count)s files.'), { count: this.maxFiles }, true);
    }
    if (!file.size) return interpolate(gettext('%(name)s is empty.'), { name }, true);
    if (file.size > this.maxBytes) {
      return interpolate(gettext('%(name)s is larger than %(max)s.'), { name, max: formatBytes(this.maxBytes) }, true);
    }
    return '';
  }

  get(key) {
    return this.items.find((i) => i.key === key) || null;
  }

  progress(key, fraction) {
    const entry = this.get(key);
    if (entry && entry.state === 'uploading') entry.progress = Math.max(0, Math.min(1, fraction));
  }

  // The server stored it: {id, name, size, kind, mime, url}. Null when the entry was
  // removed meanwhile (the caller deletes the stored file: it would never be sent).
  uploaded(key, stored) {
    const entry = this.get(key);
    if (!entry) return null;
    Object.assign(entry, { state: 'ready', progress: 1, file: null, stored, image: stored.kind === 'image' });
    return entry;
  }

  failed(key, message) {
    const entry = this.get(key);
    if (entry) Object.assign(entry, { state: 'failed', file: null, error: message });
    return entry;
  }

  // Taken out of the tray (its × button): the entry, whose stored file (if any) the
  // caller deletes.
  remove(key) {
    const entry = this.get(key);
    this.items = this.items.filter((i) => i !== entry);
    return entry;
  }

  get uploading() {
    return this.items.some((i) => i.state === 'uploading');
  }

  get hasImages() {
    return this.items.some((i) => i.state === 'ready' && i.stored.kind === 'image');
  }

  get isEmpty() {
    return this.items.length === 0;
  }

  // What goes with the message: the stored files, in the order chosen; the tray is
  // emptied (failed entries go too: their sentence was shown).
  take() {
    const files = this.items.filter((i) => i.state === 'ready').map((i) => i.stored);
    this.items = [];
    return files;
  }

  // A message refused (or a queued one cancelled): its files come back, unless the
  // tray holds others already.
  restore(files) {
    if (!this.isEmpty || !files || !files.length) return false;
    for (const stored of files) {
      this.items.push({ key: this.nextKey++, name: stored.name, size: stored.size, image: stored.kind === 'image',
        state: 'ready', progress: 1, file: null, stored, error: '' });
    }
    return true;
  }
}
