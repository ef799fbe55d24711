// static/chat/attachtray.js: the files waiting to go with the next message (issue #25),
// and the user_message frame that carries them (static/chat/store.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttachTray, noImagesModel } from '../../static/chat/attachtray.js';
import { MessageStore } from '../../static/chat/store.js';

const file = (name, size, type = 'text/plain') => ({ name, size, type });
const stored = (id, kind = 'text') => ({ id, name: `${id}.bin`, size: 10, kind, mime: 'x/y', url: `/api/attachments/${id}/` });

const REFUSALS = [
  // [what, files already in the tray, the file, the sentence (null: accepted)]
  ['a text file', 0, file('a.txt', 12), null],
  ['an empty file', 0, file('e.txt', 0), 'e.txt is empty.'],
  ['one byte over the limit', 0, file('big.pdf', 1001), /^big\.pdf is larger than 1(\.0)? kB\.$/],
  ['at the limit', 0, file('fits.pdf', 1000), null],
  ['a sixth file', 5, file('f.txt', 5), 'A message may carry at most 5 files.'],
  ['a pasted image without a name', 0, { size: 3, type: 'image/png' }, null],
];

for (const [what, before, f, sentence] of REFUSALS) {
  test(`adding ${what}`, () => {
    const tray = new AttachTray({ maxFiles: 5, maxBytes: 1000 });
    tray.add(Array.from({ length: before }, (_, i) => file(`${i}.txt`, 1)));
    const { added, refused } = tray.add([f]);
    if (sentence === null) {
      assert.equal(added.length, 1);
      assert.equal(added[0].state, 'uploading');
      assert.deepEqual(refused, []);
    } else {
      assert.equal(added.length, 0);
      assert.equal(refused.length, 1);
      if (sentence instanceof RegExp) assert.match(refused[0], sentence);
      else assert.equal(refused[0], sentence);
    }
  });
}

test('a batch over the count keeps the first ones, refuses the rest', () => {
  const tray = new AttachTray({ maxFiles: 2, maxBytes: 1000 });
  const { added, refused } = tray.add([file('a', 1), file('b', 1), file('c', 1)]);
  assert.deepEqual(added.map((e) => e.name), ['a', 'b']);
  assert.equal(refused.length, 1);
});

test('a failed upload frees its place; a pasted image is named and seen as an image', () => {
  const tray = new AttachTray({ maxFiles: 1, maxBytes: 1000 });
  const [entry] = tray.add([{ size: 3, type: 'image/png' }]).added;
  assert.equal(entry.name, 'pasted file');
  assert.equal(entry.image, true);
  tray.failed(entry.key, 'The file is not a PNG.');
  assert.equal(tray.get(entry.key).error, 'The file is not a PNG.');
  assert.equal(tray.add([file('b.txt', 1)]).added.length, 1);
});

test('uploads: progress, stored, blocking while any runs; take empties the tray in order', () => {
  const tray = new AttachTray();
  const [a, b, c] = tray.add([file('a', 1), file('b', 1), file('c', 1)]).added;
  assert.equal(tray.uploading, true);
  tray.progress(a.key, 0.5);
  assert.equal(tray.get(a.key).progress, 0.5);
  tray.progress(a.key, 7);
  assert.equal(tray.get(a.key).progress, 1);
  tray.uploaded(b.key, stored('B', 'image'));
  tray.uploaded(a.key, stored('A'));
  assert.equal(tray.uploading, true);  // c still uploads
  tray.failed(c.key, 'refused');
  assert.equal(tray.uploading, false);
  assert.equal(tray.hasImages, true);
  assert.deepEqual(tray.take().map((s) => s.id), ['A', 'B']);  // the order chosen; failed ones go
  assert.equal(tray.isEmpty, true);
});

test('an entry removed while it uploads: its stored file is handed back to be deleted', () => {
  const tray = new AttachTray();
  const [a] = tray.add([file('a', 1)]).added;
  assert.equal(tray.remove(a.key), a);
  assert.equal(tray.uploaded(a.key, stored('A')), null);
  assert.equal(tray.isEmpty, true);
});

test('a refused message gives its files back to an empty tray only', () => {
  const tray = new AttachTray();
  assert.equal(tray.restore([stored('A'), stored('B', 'image')]), true);
  assert.deepEqual(tray.items.map((i) => [i.state, i.stored.id, i.image]), [['ready', 'A', false], ['ready', 'B', true]]);
  assert.equal(tray.restore([stored('C')]), false);  // the tray holds others: not mixed
  assert.equal(tray.restore([]), false);
  assert.deepEqual(tray.take().map((s) => s.id), ['A', 'B']);
});

const MODELS = [{ key: 'vision', label: 'Vision', images: true }, { key: 'text', label: 'Text only', images: false }];

for (const [what, models, key, expected] of [
  ['a model that reads images', MODELS, 'vision', null],
  ['a model that does not', MODELS, 'text', 'Text only'],
  ['the default (first) model', MODELS, '', null],
  ['a model no longer offered: the default', MODELS, 'gone', null],
  ['a default without images', [MODELS[1], MODELS[0]], null, 'Text only'],
  ['no models known', [], 'x', null],
]) {
  test(`images and ${what}`, () => assert.equal(noImagesModel(models, key), expected));
}

test('the user_message frame carries the files by id, and no key without files', () => {
  const store = new MessageStore();
  const p = store.add('c1', 'What is this?', null, [stored('A'), stored('B')]);
  assert.deepEqual(MessageStore.frame('c1', p),
    { type: 'user_message', content: 'What is this?', client_id: 'c1', attachments: ['A', 'B'] });
  const plain = store.add('c2', 'Hi');
  assert.deepEqual(MessageStore.frame('c2', plain), { type: 'user_message', content: 'Hi', client_id: 'c2' });
});

test('a message resent after a reconnect keeps its files', () => {
  const store = new MessageStore();
  const p = store.add('c1', 'Look', null, [stored('A')]);
  p.sent = true;
  const [{ p: kept }] = store.reconcile([]);
  assert.deepEqual(MessageStore.frame('c1', kept).attachments, ['A']);
});
