// The chat page's message store: what it knows of the messages shown, without the DOM.
// The raw text of every message is kept here; the bubbles (render.js) are only a
// rendering of it. tests/js/store.test.mjs runs it under `node --test`.

export const BUSY_RETRIES = 5;  // `busy` with no answer in sight: retries before giving up

export class MessageStore {
  constructor() {
    this.raw = new Map();        // message id -> its full text so far (markdown for answers)
    this.parts = new Map();      // message id -> the pieces it arrived in (for "Show chunks")
    this.siblings = new Map();   // message id -> the ids of its versions, itself included
    this.streaming = new Set();  // ids of assistant answers in progress
    // client_id -> {content, view, sent, failed, queued, retries}: not yet confirmed, in
    // the order typed; `queued` ones wait for the answer that streams (one answer at a
    // time). `view` is the caller's (the bubble), never read here.
    this.pending = new Map();
  }

  // ---- messages -------------------------------------------------------------

  // A history frame (a new socket, a branch switch) replaces what is shown.
  reset() {
    for (const collection of [this.raw, this.parts, this.siblings, this.streaming]) collection.clear();
  }

  // A message no longer shown (another branch).
  forget(id) {
    for (const collection of [this.raw, this.parts, this.siblings, this.streaming]) collection.delete(id);
  }

  // A message as the server has it (history, older page, confirmation): its text in one part.
  setMessage(m) {
    if (!m.id) return;
    if (m.siblings) this.siblings.set(m.id, m.siblings);
    this.setRaw(m.id, m.content || '');
    if (m.status === 'streaming') this.streaming.add(m.id);
  }

  setRaw(id, text) {
    this.raw.set(id, text);
    this.parts.set(id, text ? [text] : []);
  }

  text(id) {
    return this.raw.get(id) || '';
  }

  // `start`: an answer begins (or goes on after a reconnect).
  start(id, siblings) {
    if (siblings) this.siblings.set(id, siblings);
    this.streaming.add(id);
  }

  // A chunk the protocol client accepted (its seq checked): appended to the text.
  appendChunk(id, text) {
    this.raw.set(id, this.text(id) + text);
    if (!this.parts.has(id)) this.parts.set(id, []);
    this.parts.get(id).push(text);  // kept so "Show chunks" can outline each chunk frame
  }

  end(id) {
    this.streaming.delete(id);
  }

  get busy() {
    return this.streaming.size > 0;
  }

  // ---- the queue of messages typed ------------------------------------------

  // One answer at a time per conversation (the server says `busy` otherwise): a message
  // waits while an answer streams or while an earlier message of ours is unanswered.
  mustWait() {
    return this.busy || [...this.pending.values()].some((p) => !p.failed);
  }

  // A message typed: pending until the server's `message` frame confirms it.
  // `attachments`: the uploaded files it carries ({id, name, size, kind, url}).
  add(clientId, content, view = null, attachments = []) {
    const p = { content, view, attachments, sent: false, failed: false, queued: this.mustWait(), retries: 0 };
    this.pending.set(clientId, p);
    return p;
  }

  // The `user_message` frame of a pending message (a resend is the same frame).
  static frame(clientId, p) {
    const frame = { type: 'user_message', content: p.content, client_id: clientId };
    if (p.attachments && p.attachments.length) frame.attachments = p.attachments.map((a) => a.id);
    return frame;
  }

  // The message to send now, [clientId, p], or null: the first waiting one, once nothing
  // streams, the socket is ready and none of ours is in flight.
  nextToSend(ready) {
    if (!ready || this.busy) return null;
    for (const [clientId, p] of this.pending) {
      if (p.failed) continue;
      if (p.sent) return null;  // in flight: wait for its answer
      return [clientId, p];
    }
    return null;
  }

  // The server's `message` frame with our client_id: no longer pending.
  confirm(clientId) {
    const p = clientId ? this.pending.get(clientId) : undefined;
    if (p) this.pending.delete(clientId);
    return p;
  }

  // Cancelled before it was sent: gone from the queue (null if it was sent meanwhile).
  cancel(clientId) {
    const p = this.pending.get(clientId);
    if (!p || p.sent) return null;
    this.pending.delete(clientId);
    return p;
  }

  // A new socket's history: a pending message whose client_id it holds was saved (it
  // goes); failed ones go; the others are to be sent again with the same client_id (the
  // server treats a resend idempotently). Returns the ones kept, in order, each with
  // whether it must wait (an answer streams, or it is not the first).
  reconcile(history) {
    const saved = new Set(history.map((m) => m.client_id).filter(Boolean));
    for (const [clientId, p] of this.pending) {
      if (saved.has(clientId) || p.failed) this.pending.delete(clientId);
      else p.sent = false;
    }
    const kept = [...this.pending.values()];
    return kept.map((p, i) => ({ p, wait: this.busy || i > 0 }));
  }

  // The server refused the message in flight: marked failed (the ones returned).
  refuse() {
    const refused = [];
    for (const p of this.pending.values()) {
      if (!p.sent || p.failed) continue;
      p.failed = true;
      refused.push(p);
    }
    return refused;
  }

  // `busy`: an answer from elsewhere streams and ours was not saved. The messages sent
  // go back to waiting (returned), unless one was retried too often (null: refused).
  requeueBusy(maxRetries = BUSY_RETRIES) {
    const refused = [...this.pending.values()].filter((p) => p.sent && !p.failed);
    if (!refused.length || refused.some((p) => p.retries >= maxRetries)) return null;
    for (const p of refused) {
      p.sent = false;
      p.retries += 1;
    }
    return refused;
  }

  clearPending() {
    this.pending.clear();
  }
}
