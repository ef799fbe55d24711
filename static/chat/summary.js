// A long conversation's summary in the chat page (issue #25; docs/DESIGN.md,
// "Summaries"): a quiet marker above the messages ("Earlier messages are summarised for
// the model", or that the oldest are left out), which opens a dialog
// (templates/chat/index.html) to read, edit or clear the summary; and the context
// meter by the composer ("12,300 of 24,000 characters of context"). Read from
// GET /api/conversations/<id>/summary/ when a conversation opens (the chat page's
// `chat:conversation` event) and after each answer ends (`chat:answer-end`).
// An ES module (loaded with type="module"); exports nothing; the wording is summarystate.js's.
import { gettext } from './i18n.js';
import { markerOpens, markerState, markerText, meter, summaryMayCome } from './summarystate.js';

const { request } = window.ChatUtil;
const $ = (id) => document.getElementById(id);
const marker = $('summary-marker');
const markerButton = $('summary-marker-button');
const markerNote = $('summary-marker-text');
const gauge = $('context-meter');
const dialog = $('summary-dialog');
const textarea = $('summary-text');
const status = $('summary-status');
const confirmRow = $('summary-confirm');
let conversationId = '';
let latest = null;  // the API's last answer for the open conversation
let asked = 0;      // answers to older requests (or another conversation's) are dropped

const summaryUrl = () => `/api/conversations/${encodeURIComponent(conversationId)}/summary/`;

function say(text) { status.textContent = text; }

function showMarker(data) {
  const state = markerState(data);
  marker.dataset.state = state;
  marker.hidden = state === 'none';
  const opens = markerOpens(data);
  markerButton.hidden = !opens;
  markerNote.hidden = opens;
  markerButton.textContent = opens ? markerText(state) : '';
  markerNote.textContent = opens ? '' : markerText(state);
}

function showMeter(data) {
  const m = meter(data);
  gauge.hidden = !m;
  if (!m) return;
  gauge.querySelector('.context-meter-text').textContent = m.text;
  gauge.querySelector('.context-meter-fill').style.width = `${(m.share * 100).toFixed(1)}%`;
  gauge.dataset.state = m.state;
  gauge.setAttribute('aria-valuenow', String(Math.min(data.context.used, data.context.budget)));
  gauge.setAttribute('aria-valuemax', String(data.context.budget));
  gauge.setAttribute('aria-valuetext', m.text);
}

function show(data) {
  latest = data;
  showMarker(data);
  showMeter(data);
}

function hide() {
  latest = null;
  marker.hidden = true;
  gauge.hidden = true;
  if (dialog.open) dialog.close();
}

async function refresh() {
  if (!conversationId) return null;
  const ticket = ++asked;
  try {
    const data = await request(summaryUrl());
    if (ticket !== asked) return null;
    show(data);
    return data;
  } catch (e) {
    return null;  // gone, or an outage: the page says so elsewhere; the marker stays
  }
}

// After an answer ends a summary may be written in the background (a few seconds):
// while the oldest are cut without one, look again a few times.
const LOOK_AGAIN_MS = [2000, 5000, 10000];
let lookTimer = null;

async function afterAnswer(n = 0) {
  clearTimeout(lookTimer);
  const data = await refresh();
  if (n < LOOK_AGAIN_MS.length && summaryMayCome(data)) {
    lookTimer = setTimeout(() => afterAnswer(n + 1), LOOK_AGAIN_MS[n]);
  }
}

function fillDialog() {
  const summary = latest && latest.summary;
  textarea.value = (summary && summary.text) || '';
  if (summary && summary.max_chars) textarea.maxLength = summary.max_chars;
  $('summary-edited').hidden = !(summary && summary.edited);
  confirmRow.hidden = true;
}

function openDialog() {
  if (!latest || !latest.summary) return;
  say('');
  fillDialog();
  dialog.showModal();
  textarea.focus();
}

async function save(e) {
  e.preventDefault();
  const buttons = dialog.querySelectorAll('button');
  buttons.forEach((b) => { b.disabled = true; });
  try {
    show(await request(summaryUrl(), 'PUT', { text: textarea.value }));
    fillDialog();
    say(gettext('Summary saved: the model reads it from your next message.'));
  } catch (err) {
    say(err.message);  // the API's own words ("A summary may be at most …")
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

async function clear() {
  confirmRow.hidden = true;
  try {
    await request(summaryUrl(), 'DELETE');
    dialog.close();
    await refresh();
  } catch (err) {
    say(err.message);
  }
}

if (marker && gauge && dialog) {
  document.addEventListener('chat:conversation', (e) => {
    const id = (e.detail && e.detail.id) || '';
    if (id === conversationId && latest) {
      refresh();  // a history frame again (a reconnection, another tab's edit)
      return;
    }
    conversationId = id;
    asked += 1;
    clearTimeout(lookTimer);
    hide();
    refresh();
  });
  document.addEventListener('chat:answer-end', () => afterAnswer());
  markerButton.addEventListener('click', openDialog);
  $('summary-form').addEventListener('submit', save);
  $('summary-close').addEventListener('click', () => dialog.close());
  $('summary-clear').addEventListener('click', () => {
    confirmRow.hidden = false;
    $('summary-clear-no').focus();
  });
  $('summary-clear-yes').addEventListener('click', clear);
  $('summary-clear-no').addEventListener('click', () => { confirmRow.hidden = true; });
  dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close(); });
}
