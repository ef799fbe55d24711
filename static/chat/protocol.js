// The WebSocket protocol client of the chat page and of the staff live tail
// (static/chatadmin/tail.js): one socket at a time, reconnection with a back-off, a
// ping, the `seq` checks of `chunk` frames, and the dispatch of each frame to a handler
// by its `type`. No DOM: the socket class and the timers are injected, so
// tests/js/protocol.test.mjs runs it under `node --test` with fakes. The wire contract is
// the project's DESIGN (WebSocket and HTTP contract).

import { gettext, interpolate } from './i18n.js';

// The server's error codes (chat/errors.py, ErrorCode); tests/unit/test_contract.py keeps
// the two lists equal.
export const ERROR_CODES = Object.freeze({
  BAD_FRAME: 'bad_frame', TOO_LONG: 'too_long', BUSY: 'busy', RATE_LIMITED: 'rate_limited', QUOTA_EXCEEDED: 'quota_exceeded',
  STORAGE_FULL: 'storage_full', SPEECH_FAILED: 'speech_failed',
  NOT_FOUND: 'not_found', READ_ONLY: 'read_only', UNAVAILABLE: 'unavailable', SERVER_ERROR: 'server_error',
  MODEL_ERROR: 'model_error', MODEL_UNAVAILABLE: 'model_unavailable', TIMEOUT: 'timeout',
  MODEL_UNREACHABLE: 'model_unreachable',
  INTERRUPTED: 'interrupted', NOT_AUTHENTICATED: 'not_authenticated', BAD_REQUEST: 'bad_request',
  INVALID: 'invalid', NOT_ALLOWED: 'not_allowed', CSRF_FAILED: 'csrf_failed',
});

// What the page says of an error frame that came without its own message, per code
// (the server's message, when there is one, is shown instead).
export function errorText(code) {
  const C = ERROR_CODES;
  switch (code) {
    case C.BAD_FRAME: case C.BAD_REQUEST: case C.INVALID: return gettext('The server did not understand that request.');
    case C.TOO_LONG: return gettext('Your message is too long.');
    case C.BUSY: return gettext('An answer is still being written. Try again when it ends.');
    case C.RATE_LIMITED: return gettext('Too many messages. Wait a moment and try again.');
    case C.QUOTA_EXCEEDED: return gettext('Your token budget for today is used up.');
    case C.STORAGE_FULL: return gettext('Your storage is full. Delete some conversations first.');
    case C.SPEECH_FAILED: return gettext('The voice could not speak this answer.');
    case C.NOT_FOUND: return gettext('This conversation no longer exists.');
    case C.READ_ONLY: return gettext('This token is read-only.');
    case C.UNAVAILABLE: return gettext('The service is briefly unavailable. Try again in a moment.');
    case C.MODEL_ERROR: return gettext('The model failed to answer.');
    case C.MODEL_UNAVAILABLE: return gettext('The model is unavailable right now.');
    case C.MODEL_UNREACHABLE: return gettext('The model server could not be reached.');
    case C.TIMEOUT: return gettext('The model took too long to answer.');
    case C.INTERRUPTED: return gettext('The answer was interrupted.');
    case C.NOT_AUTHENTICATED: return gettext('You are not logged in.');
    case C.NOT_ALLOWED: return gettext('That is not allowed here.');
    case C.CSRF_FAILED: return gettext('Your session expired. Reload the page.');
    case C.SERVER_ERROR: return gettext('Something went wrong on the server. Try again.');
    default: return interpolate(gettext('Something went wrong (%(code)s).'), { code }, true);
  }
}

export const PING_MS = 25000;
export const MAX_BACKOFF_MS = 15000;
const POLICY_CLOSE = 1008;  // too many frames or sockets: wait the longest back-off
const POLICY_ATTEMPTS = 4;

// The delay before the next attempt after `attempts` failed ones: 1 s, 2 s, 4 s, … capped.
export const backoffDelay = (attempts, baseMs = 1000, maxMs = MAX_BACKOFF_MS) => Math.min(baseMs * 2 ** attempts, maxMs);

const globalTimers = () => ({
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle),
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
  clearInterval: (handle) => globalThis.clearInterval(handle),
});

// `url()`: where to connect (read at each attempt). `handlers`: frame type -> function(frame).
// `onStatus(state, detail)`: 'connecting' (first attempt) or 'reconnecting', 'connected'
// (open), 'waiting' ({delay, code}: a retry is due), 'closed' ({code}: one of `finalCodes`,
// no retry). `resetOn`: what proves a connection good and resets the back-off ('history',
// the first frame of every socket, or 'open'). `pingMs`: 0 sends no ping.
export class ProtocolClient {
  constructor({
    url, handlers = {}, WebSocket = globalThis.WebSocket, timers = globalTimers(), pingMs = PING_MS,
    baseDelayMs = 1000, maxDelayMs = MAX_BACKOFF_MS, finalCodes = [4401, 4403], resetOn = 'history',
    onStatus = () => {}, warn = (...args) => console.warn(...args),
  }) {
    Object.assign(this, { url, handlers, Ws: WebSocket, timers, pingMs, baseDelayMs, maxDelayMs, onStatus, warn, resetOn });
    this.finalCodes = new Set(finalCodes);
    this.ws = null;
    this.ready = false;           // the current socket has delivered its history frame
    this.attempts = 0;            // consecutive failed connections, for the back-off
    this.reconnectTimer = null;
    this.pingTimer = null;
    this.nextSeq = new Map();     // message id -> next expected chunk seq on this socket
  }

  // A fresh start (a conversation opened, the tail switched on): the back-off starts over.
  open() {
    this.close();
    this.attempts = 0;
    this.connect();
  }

  connect() {
    const sock = new this.Ws(this.url());
    this.onStatus(this.attempts ? 'reconnecting' : 'connecting', { attempts: this.attempts });
    this.ws = sock;
    this.ready = false;
    this.reconnectTimer = null;
    this.nextSeq.clear();
    // Each handler checks `sock === this.ws`, so a socket we have replaced stays silent.
    sock.onopen = () => {
      if (sock !== this.ws) return;
      if (this.resetOn === 'open') this.attempts = 0;
      this.onStatus('connected', {});
      if (this.pingMs) this.pingTimer = this.timers.setInterval(() => this.send({ type: 'ping' }), this.pingMs);
    };
    sock.onmessage = (ev) => { if (sock === this.ws) this.receive(ev.data); };
    sock.onclose = (ev) => { if (sock === this.ws) this.closed(ev); };  // `error` always precedes a close
  }

  // Stops: no socket, no retry due, no ping.
  close() {
    this.timers.clearTimeout(this.reconnectTimer);
    this.timers.clearInterval(this.pingTimer);
    const sock = this.ws;
    Object.assign(this, { ws: null, ready: false, reconnectTimer: null, pingTimer: null });
    if (sock) sock.close(1000);  // a no-op on a socket that is already closed
  }

  get connected() {
    return Boolean(this.ws) && this.ws.readyState === (this.Ws.OPEN ?? 1);
  }

  // False when there is no open socket (the frame is not sent).
  send(frame) {
    if (!this.connected) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // Back online: do not wait for the back-off.
  retryNow() {
    if (this.reconnectTimer && !this.ws) {
      this.timers.clearTimeout(this.reconnectTimer);
      this.connect();
    }
  }

  closed(ev) {
    this.close();
    if (this.finalCodes.has(ev.code)) {
      this.onStatus('closed', { code: ev.code });
      return;
    }
    // The next connection's history frame rebuilds the view, streaming answers included.
    // Closed for a policy (its error frame said why): wait the longest back-off.
    if (ev.code === POLICY_CLOSE) this.attempts = Math.max(this.attempts, POLICY_ATTEMPTS);
    const delay = backoffDelay(this.attempts, this.baseDelayMs, this.maxDelayMs);
    this.attempts += 1;
    this.onStatus('waiting', { delay, code: ev.code });
    this.reconnectTimer = this.timers.setTimeout(() => this.connect(), delay);
  }

  receive(raw) {
    let f = null;
    try { f = JSON.parse(raw); } catch (e) { /* reported below */ }
    if (f && f.type === 'history') {
      this.ready = true;
      this.nextSeq.clear();  // a history (a new socket, a branch switch) starts every count again
      if (this.resetOn === 'history') this.attempts = 0;
    }
    if (f && f.type === 'chunk' && !this.checkSeq(f)) return;
    if (f && f.type === 'pong' && !this.handlers.pong) return;
    if (f && this.handlers[f.type]) this.handlers[f.type](f);
    else this.warn('Ignoring an unknown frame', raw);
  }

  // False for a chunk already seen (dropped). The server sends every chunk of a connection
  // once and in order, whatever the channel layer lost (chat/streaming/delivery/
  // subscriber.py): a gap would be a server bug, reported and accepted.
  checkSeq(f) {
    const id = f.message_id;
    const expected = this.nextSeq.has(id) ? this.nextSeq.get(id) : 0;
    if (f.seq < expected) {
      this.warn(`Duplicate chunk seq ${f.seq} for message ${id}; ignored.`);
      return false;
    }
    if (f.seq > expected) this.warn(`Chunk gap for message ${id}: expected seq ${expected}, got ${f.seq}.`);
    this.nextSeq.set(id, f.seq + 1);
    return true;
  }

  // A message no longer shown (another branch): its count goes with it.
  forget(id) {
    this.nextSeq.delete(id);
  }
}
