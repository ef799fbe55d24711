// The protocol client (static/chat/protocol.js) with a fake WebSocket and a fake clock:
// connecting, the back-off, the ping, `seq` checks and the dispatch of frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolClient, backoffDelay, MAX_BACKOFF_MS, PING_MS } from '../../static/chat/protocol.js';

class FakeSocket {
  static OPEN = 1;
  static made = [];
  constructor(url) {
    Object.assign(this, { url, readyState: 0, sent: [], closedWith: null });
    FakeSocket.made.push(this);
  }
  send(data) { this.sent.push(JSON.parse(data)); }
  close(code) { this.closedWith = code; this.readyState = 3; }
  // What the server does:
  open() { this.readyState = 1; this.onopen(); }
  frame(f) { this.onmessage({ data: typeof f === 'string' ? f : JSON.stringify(f) }); }
  drop(code = 1006) { this.readyState = 3; this.onclose({ code }); }
}

// A clock that only moves when told: timers fire in order as `advance` passes them.
class FakeTimers {
  constructor() { Object.assign(this, { now: 0, next: 1, due: new Map() }); }
  setTimeout(fn, ms) { return this.add(fn, ms, 0); }
  setInterval(fn, ms) { return this.add(fn, ms, ms); }
  add(fn, ms, every) { const id = this.next++; this.due.set(id, { fn, at: this.now + ms, every }); return id; }
  clearTimeout(id) { this.due.delete(id); }
  clearInterval(id) { this.due.delete(id); }
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      const [id, t] = [...this.due].sort((a, b) => a[1].at - b[1].at)[0] || [];
      if (!t || t.at > end) break;
      this.now = t.at;
      if (t.every) t.at += t.every; else this.due.delete(id);
      t.fn();
    }
    this.now = end;
  }
  get pending() { return this.due.size; }
}

function setup(options = {}) {
  FakeSocket.made = [];
  const timers = new FakeTimers();
  const got = [];
  const statuses = [];
  const warnings = [];
  const record = (f) => got.push(f);
  const client = new ProtocolClient({
    url: () => `ws://test/ws/chat/c1/?n=${FakeSocket.made.length}`,
    handlers: { history: record, chunk: record, start: record, end: record, message: record },
    WebSocket: FakeSocket, timers, onStatus: (s, d) => statuses.push([s, d]),
    warn: (...args) => warnings.push(args.join(' ')), ...options,
  });
  const last = () => FakeSocket.made[FakeSocket.made.length - 1];
  return { client, timers, got, statuses, warnings, last };
}

const chunk = (seq, text = `t${seq}`, id = 'a1') => ({ type: 'chunk', message_id: id, seq, text });

test('start, chunks and end are dispatched in order; history makes the socket ready', () => {
  const { client, got, last } = setup();
  client.open();
  assert.equal(client.ready, false);
  last().open();
  last().frame({ type: 'history', messages: [] });
  assert.equal(client.ready, true);
  for (const f of [{ type: 'start', message_id: 'a1' }, chunk(0), chunk(1), { type: 'end', message_id: 'a1', status: 'complete' }]) last().frame(f);
  assert.deepEqual(got.map((f) => f.type), ['history', 'start', 'chunk', 'chunk', 'end']);
  assert.deepEqual(got.filter((f) => f.type === 'chunk').map((f) => f.text), ['t0', 't1']);
});

test('a duplicate chunk is dropped with a warning; a gap is reported and accepted', () => {
  const { client, got, warnings, last } = setup();
  client.open();
  last().open();
  last().frame({ type: 'history', messages: [] });
  for (const seq of [0, 1, 1, 0, 3, 4]) last().frame(chunk(seq));
  assert.deepEqual(got.filter((f) => f.type === 'chunk').map((f) => f.seq), [0, 1, 3, 4]);
  assert.equal(warnings.filter((w) => w.startsWith('Duplicate chunk seq')).length, 2);
  assert.deepEqual(warnings.filter((w) => w.startsWith('Chunk gap')), ['Chunk gap for message a1: expected seq 2, got 3.']);
});

test('seq is counted per message and starts again on a new socket and on a history frame', () => {
  const { client, got, last, timers } = setup();
  client.open();
  last().open();
  last().frame({ type: 'history', messages: [] });
  last().frame(chunk(0, 'a', 'a1'));
  last().frame(chunk(0, 'b', 'a2'));
  last().frame({ type: 'history', messages: [] });  // a branch switch on the same socket
  last().frame(chunk(0, 'c', 'a1'));
  last().drop();
  timers.advance(1000);
  last().open();
  last().frame({ type: 'history', messages: [] });
  last().frame(chunk(0, 'd', 'a1'));  // the new socket counts from 0
  assert.deepEqual(got.filter((f) => f.type === 'chunk').map((f) => f.text), ['a', 'b', 'c', 'd']);
});

test('reconnects with a doubling back-off capped at 15 s, reset by a history frame', () => {
  const { client, timers, statuses, last } = setup();
  client.open();
  const delays = [];
  for (let i = 0; i < 6; i += 1) {
    last().drop();
    const [state, detail] = statuses[statuses.length - 1];
    assert.equal(state, 'waiting');
    delays.push(detail.delay);
    const before = FakeSocket.made.length;
    timers.advance(detail.delay - 1);
    assert.equal(FakeSocket.made.length, before, 'not before the delay');
    timers.advance(1);
    assert.equal(FakeSocket.made.length, before + 1, 'a new socket at the delay');
    assert.equal(statuses[statuses.length - 1][0], 'reconnecting');
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 15000, 15000]);
  last().open();
  last().frame({ type: 'history', messages: [] });
  last().drop();
  assert.deepEqual(statuses[statuses.length - 1], ['waiting', { delay: 1000, code: 1006 }]);
  assert.equal(backoffDelay(10), MAX_BACKOFF_MS);
});

test('a socket that opens but closes before its history still backs off further', () => {
  const { client, statuses, last, timers } = setup();
  client.open();
  last().drop();
  timers.advance(1000);
  last().open();
  last().drop();
  assert.equal(statuses[statuses.length - 1][1].delay, 2000);
});

test('a policy close (1008) waits the longest back-off at once', () => {
  const { client, statuses, last } = setup();
  client.open();
  last().open();
  last().frame({ type: 'history', messages: [] });
  last().drop(1008);
  assert.deepEqual(statuses[statuses.length - 1], ['waiting', { delay: 15000, code: 1008 }]);
});

test('4401 and 4403 close for good: no retry is scheduled', () => {
  for (const code of [4401, 4403]) {
    const { client, statuses, last, timers } = setup();
    client.open();
    last().open();
    last().drop(code);
    assert.deepEqual(statuses[statuses.length - 1], ['closed', { code }]);
    assert.equal(timers.pending, 0);
    timers.advance(60000);
    assert.equal(FakeSocket.made.length, 1);
  }
});

test('pings every 25 s while open, and stops when closed', () => {
  const { client, timers, last } = setup();
  client.open();
  const sock = last();
  sock.open();
  timers.advance(PING_MS * 2);
  assert.deepEqual(sock.sent, [{ type: 'ping' }, { type: 'ping' }]);
  client.close();
  assert.equal(sock.closedWith, 1000);
  timers.advance(PING_MS * 2);
  assert.equal(sock.sent.length, 2);
  assert.equal(timers.pending, 0);
});

test('send is refused without an open socket, accepted once open', () => {
  const { client, last } = setup();
  assert.equal(client.send({ type: 'stop' }), false);
  client.open();
  assert.equal(client.send({ type: 'stop' }), false, 'still connecting');
  last().open();
  assert.equal(client.send({ type: 'user_message', content: 'hi', client_id: 'x' }), true);
  assert.deepEqual(last().sent, [{ type: 'user_message', content: 'hi', client_id: 'x' }]);
});

test('a replaced socket stays silent', () => {
  const { client, got, statuses, last } = setup();
  client.open();
  const old = last();
  client.open();  // another conversation
  const count = statuses.length;
  old.onmessage({ data: JSON.stringify({ type: 'history', messages: [] }) });
  old.onclose({ code: 1006 });
  assert.equal(got.length, 0);
  assert.equal(statuses.length, count);
  assert.equal(old.closedWith, 1000);
});

test('retryNow connects at once while a retry is due, and does nothing otherwise', () => {
  const { client, last, timers } = setup();
  client.open();
  client.retryNow();
  assert.equal(FakeSocket.made.length, 1, 'connecting: nothing to hurry');
  last().drop();
  client.retryNow();
  assert.equal(FakeSocket.made.length, 2);
  timers.advance(60000);
  assert.equal(FakeSocket.made.length, 2, 'the due retry was cancelled');
});

test('unknown frames and bad JSON are ignored with a warning; pong needs no handler', () => {
  const { client, got, warnings, last } = setup();
  client.open();
  last().open();
  last().frame('{not json');
  last().frame({ type: 'mystery' });
  last().frame({ type: 'pong' });
  assert.equal(got.length, 0);
  assert.equal(warnings.length, 2);
});

test('resetOn open and no ping: the staff live tail', () => {
  const { client, timers, statuses, last } = setup({ pingMs: 0, maxDelayMs: 30000, resetOn: 'open' });
  client.open();
  for (let i = 0; i < 6; i += 1) {
    last().drop();
    timers.advance(statuses[statuses.length - 1][1].delay);
  }
  assert.equal(statuses[statuses.length - 2][1].delay, 30000);
  last().open();
  timers.advance(PING_MS * 3);
  assert.deepEqual(last().sent, []);
  last().drop();
  assert.equal(statuses[statuses.length - 1][1].delay, 1000);
});
