// The message store (static/chat/store.js), alone and fed by the protocol client
// (static/chat/protocol.js) over a fake socket: answers streaming, queued sends,
// reconnects and branch switches, without a DOM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageStore, BUSY_RETRIES } from '../../static/chat/store.js';
import { ProtocolClient } from '../../static/chat/protocol.js';

test('start, chunks and end: the raw text, its parts and the streaming set', () => {
  const s = new MessageStore();
  s.start('a1', ['a0', 'a1']);
  assert.equal(s.busy, true);
  for (const t of ['Hello', ', ', 'world']) s.appendChunk('a1', t);
  assert.equal(s.text('a1'), 'Hello, world');
  assert.deepEqual(s.parts.get('a1'), ['Hello', ', ', 'world']);
  assert.deepEqual(s.siblings.get('a1'), ['a0', 'a1']);
  s.end('a1');
  assert.equal(s.busy, false);
  assert.equal(s.text('a1'), 'Hello, world');
});

test('a saved message is one part; an answer streaming in the history counts as busy', () => {
  const s = new MessageStore();
  s.setMessage({ id: 'u1', role: 'user', content: 'hi', siblings: ['u1'] });
  s.setMessage({ id: 'a1', role: 'assistant', content: 'so far', status: 'streaming' });
  s.setMessage({ role: 'user', content: 'not saved yet' });  // no id: nothing kept
  assert.deepEqual(s.parts.get('u1'), ['hi']);
  assert.deepEqual([...s.streaming], ['a1']);
  assert.equal(s.raw.size, 2);
  s.setRaw('e1', '');
  assert.deepEqual(s.parts.get('e1'), []);
});

test('a branch switch: forget drops a message, reset empties everything but the queue', () => {
  const s = new MessageStore();
  s.setMessage({ id: 'u1', content: 'q' });
  s.setMessage({ id: 'a1', content: 'old answer', siblings: ['a1', 'a2'] });
  s.add('c1', 'waiting');
  s.forget('a1');
  assert.equal(s.raw.has('a1'), false);
  assert.equal(s.siblings.has('a1'), false);
  s.reset();
  assert.equal(s.raw.size + s.parts.size + s.siblings.size + s.streaming.size, 0);
  assert.equal(s.pending.size, 1);
});

test('messages typed while an answer streams are queued and sent one at a time', () => {
  const s = new MessageStore();
  s.start('a1');
  const p1 = s.add('c1', 'first');
  const p2 = s.add('c2', 'second');
  assert.equal(p1.queued, true);
  assert.equal(p2.queued, true);
  assert.equal(s.nextToSend(true), null, 'an answer streams');
  s.end('a1');
  assert.equal(s.nextToSend(false), null, 'the socket is not ready');
  assert.deepEqual(s.nextToSend(true), ['c1', p1]);
  p1.sent = true;
  assert.equal(s.nextToSend(true), null, 'c1 is in flight');
  assert.equal(s.confirm('c1'), p1);
  assert.deepEqual(s.nextToSend(true), ['c2', p2]);
  assert.equal(s.confirm('nope'), undefined);
  assert.equal(s.confirm(undefined), undefined);
});

test('a first message with nothing streaming is not queued; the next one waits for it', () => {
  const s = new MessageStore();
  assert.equal(s.add('c1', 'one').queued, false);
  assert.equal(s.add('c2', 'two').queued, true);
});

test('a queued message can be cancelled, a sent one cannot', () => {
  const s = new MessageStore();
  const p1 = s.add('c1', 'one');
  s.add('c2', 'two');
  p1.sent = true;
  assert.equal(s.cancel('c1'), null);
  assert.equal(s.cancel('c2').content, 'two');
  assert.deepEqual([...s.pending.keys()], ['c1']);
});

test('reconnect: saved messages leave the queue, the others are sent again in order', () => {
  const s = new MessageStore();
  const p1 = s.add('c1', 'saved before the drop');
  const p2 = s.add('c2', 'lost with the socket');
  const p3 = s.add('c3', 'queued');
  const failed = s.add('c4', 'refused');
  p1.sent = true;
  failed.failed = true;
  const kept = s.reconcile([{ id: 'u1', client_id: 'c1' }, { id: 'u0' }]);
  assert.deepEqual(kept.map(({ p, wait }) => [p.content, wait]), [['lost with the socket', false], ['queued', true]]);
  assert.equal(p2.sent, false);
  assert.deepEqual([...s.pending.keys()], ['c2', 'c3']);
  s.start('a9');  // an answer streams in the new history: all of them wait
  assert.deepEqual(s.reconcile([]).map(({ wait }) => wait), [true, true]);
  assert.equal(p3.queued, true);
});

test('refused: the message in flight fails, the queue moves on', () => {
  const s = new MessageStore();
  const p1 = s.add('c1', 'too long');
  const p2 = s.add('c2', 'next');
  p1.sent = true;
  assert.deepEqual(s.refuse(), [p1]);
  assert.equal(p1.failed, true);
  assert.deepEqual(s.nextToSend(true), ['c2', p2]);
  assert.equal(s.mustWait(), true, 'c2 still waits for an answer');
});

test('busy: the message goes back to waiting, a few times, then counts as refused', () => {
  const s = new MessageStore();
  const p = s.add('c1', 'hi');
  for (let i = 0; i < BUSY_RETRIES; i += 1) {
    p.sent = true;
    assert.deepEqual(s.requeueBusy(), [p]);
    assert.equal(p.sent, false);
  }
  p.sent = true;
  assert.equal(s.requeueBusy(), null);
  assert.equal(new MessageStore().requeueBusy(), null, 'nothing was sent');
});

// The store fed by the protocol client, as frames.js and composer.js do it in the page.
class Sock {
  static OPEN = 1;
  static all = [];
  constructor() { this.readyState = 0; this.sent = []; Sock.all.push(this); }
  send(d) { this.sent.push(JSON.parse(d)); }
  close() { this.readyState = 3; }
}

function page() {
  Sock.all = [];
  const timers = { setTimeout: (fn) => { timers.due = fn; return 1; }, clearTimeout() {}, setInterval: () => 2, clearInterval() {} };
  const s = new MessageStore();
  const flush = () => {
    const next = s.nextToSend(client.ready);
    if (next && client.send({ type: 'user_message', content: next[1].content, client_id: next[0] })) next[1].sent = true;
  };
  const handlers = {
    history: (f) => { s.reset(); f.messages.forEach((m) => s.setMessage(m)); s.reconcile(f.messages); flush(); },
    start: (f) => s.start(f.message_id),
    chunk: (f) => s.appendChunk(f.message_id, f.text),
    end: (f) => { s.end(f.message_id); flush(); },
    message: (f) => s.confirm(f.client_id),
  };
  const client = new ProtocolClient({ url: () => 'ws://t/', handlers, WebSocket: Sock, timers, warn() {} });
  const sock = () => Sock.all[Sock.all.length - 1];
  const serve = (...frames) => frames.forEach((f) => sock().onmessage({ data: JSON.stringify(f) }));
  return { s, client, timers, sock, serve, flush };
}

test('reload mid-answer: the history has the text so far, chunks continue, none twice', () => {
  const { s, client, timers, sock, serve } = page();
  client.open();
  sock().readyState = 1;
  serve({ type: 'history', messages: [] }, { type: 'start', message_id: 'a1' },
    { type: 'chunk', message_id: 'a1', seq: 0, text: 'One ' }, { type: 'chunk', message_id: 'a1', seq: 0, text: 'One ' });
  assert.equal(s.text('a1'), 'One ');
  sock().onclose({ code: 1006 });
  timers.due();
  sock().readyState = 1;
  serve({ type: 'history', messages: [{ id: 'a1', role: 'assistant', content: 'One two ', status: 'streaming' }] },
    { type: 'chunk', message_id: 'a1', seq: 0, text: 'three' }, { type: 'end', message_id: 'a1', status: 'complete' });
  assert.equal(s.text('a1'), 'One two three');
  assert.equal(s.busy, false);
});

test('typed while disconnected: queued, sent once the history comes, resent after a drop', () => {
  const { s, client, timers, sock, serve, flush } = page();
  client.open();
  s.add('c1', 'hello');
  flush();
  assert.deepEqual(sock().sent, [], 'not connected yet');
  sock().readyState = 1;
  serve({ type: 'history', messages: [] });
  assert.deepEqual(sock().sent, [{ type: 'user_message', content: 'hello', client_id: 'c1' }]);
  sock().onclose({ code: 1006 });  // dropped before the server confirmed it
  timers.due();
  sock().readyState = 1;
  serve({ type: 'history', messages: [] });
  assert.deepEqual(sock().sent, [{ type: 'user_message', content: 'hello', client_id: 'c1' }], 'the same client_id');
  serve({ type: 'message', id: 'u1', client_id: 'c1' });
  assert.equal(s.pending.size, 0);
});

test('a branch switch replaces the store with the other path', () => {
  const { s, client, sock, serve } = page();
  client.open();
  sock().readyState = 1;
  serve({ type: 'history', messages: [{ id: 'u1', content: 'q' }, { id: 'a1', content: 'first answer', siblings: ['a1', 'a2'] }] });
  serve({ type: 'history', messages: [{ id: 'u1', content: 'q' }, { id: 'a2', content: 'second answer', siblings: ['a1', 'a2'] }] });
  assert.deepEqual([...s.raw.keys()], ['u1', 'a2']);
  assert.equal(s.text('a2'), 'second answer');
});
