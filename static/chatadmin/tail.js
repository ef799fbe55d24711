// Live tail on the admin transcript page, read-only. It starts with the page (no
// click): a user message appears in the transcript as it is sent, then its answer
// streams in below it. Every text goes in as text (textContent, text nodes), never HTML.
// An ES module (templates/admin/chat/conversation/change_form.html): the frames come
// through the chat page's protocol client, static/chat/protocol.js.
import { ProtocolClient } from '../chat/protocol.js';
import { formatDate, gettext, interpolate } from '../chat/i18n.js';

const box = document.getElementById('live-tail');
const list = document.getElementById('transcript');
if (box && list) watch(box, list);

function watch(box, list) {
  const button = document.getElementById('live-tail-toggle');
  const status = document.getElementById('live-tail-status');
  const ROLES = { user: gettext('User'), assistant: gettext('Assistant') };
  // Our words for the statuses; the badge's class keeps the status itself.
  const STATUS_WORDS = {
    streaming: gettext('streaming'), complete: gettext('complete'), stopped: gettext('stopped'), error: gettext('error'),
  };
  const STATUSES = ['streaming', 'complete', 'stopped', 'error'];
  let wanted = false; // staff want to watch: reconnect after a drop

  function say(text, state) {
    status.textContent = text;
    status.dataset.state = state;
  }

  function turnOf(id) {
    return list.querySelector(`li.turn[data-id="${CSS.escape(String(id))}"]`);
  }

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  }

  function span(className, text) {
    const el = document.createElement('span');
    if (className) el.className = className;
    el.textContent = text;
    return el;
  }

  // A transcript turn for a message the page did not have, shaped like the server's.
  function addTurn(m) {
    const existing = turnOf(m.id);
    if (existing) return existing;
    const follow = nearBottom();
    list.querySelector('.transcript-empty')?.remove();
    const li = document.createElement('li');
    li.className = `turn turn-${m.role} live-turn`;
    li.id = `message-${m.id}`;
    li.dataset.id = m.id;
    li.dataset.role = m.role;
    const head = document.createElement('div');
    head.className = 'turn-head';
    const who = document.createElement('strong');
    who.textContent = ROLES[m.role] || m.role;
    const when = document.createElement('time');
    const created = m.created ? new Date(m.created) : new Date();
    when.dateTime = created.toISOString();
    when.textContent = formatDate(created, { dateStyle: 'medium', timeStyle: 'medium' });
    head.append(who, when);
    if (m.role === 'assistant') {
      head.append(span('badge', ''));
      if (m.model) head.append(span('', interpolate(gettext('model %(model)s'), { model: m.model }, true)));
    }
    const text = document.createElement('pre');
    text.className = 'turn-text';
    text.textContent = m.content || '';
    li.append(head, text);
    list.append(li);
    setStatus(li, m.status || 'complete');
    if (follow) li.scrollIntoView({ block: 'end' });
    return li;
  }

  function setStatus(li, value) {
    li.dataset.status = value;
    for (const name of STATUSES) li.classList.toggle(`status-${name}`, name === value);
    const badge = li.querySelector('.turn-head .badge');
    if (badge) {
      badge.className = `badge badge-${value}`;
      badge.textContent = STATUS_WORDS[value] || value;
    }
  }

  function textOf(li) {
    return li.querySelector('.turn-text');
  }

  const handlers = {
    history(frame) {
      // The newest messages as the server has them now (an answer's text so far):
      // messages sent since the page was rendered are added, changed ones updated.
      for (const m of frame.messages) {
        const li = addTurn(m);
        textOf(li).textContent = m.content;
        setStatus(li, m.status);
      }
      const live = frame.messages.find((m) => m.status === 'streaming');
      if (live) say(gettext('Watching live: an answer is streaming…'), 'streaming');
      else say(gettext('Watching live: new messages appear here as they are sent.'), 'watching');
    },
    message(frame) {
      addTurn(frame);
      say(gettext('Watching live: the user sent a message; waiting for the answer…'), 'waiting');
    },
    start(frame) {
      addTurn({ id: frame.message_id, role: 'assistant', status: 'streaming', model: frame.model });
      say(frame.model
        ? interpolate(gettext('Watching live: an answer is streaming (%(model)s)…'), { model: frame.model }, true)
        : gettext('Watching live: an answer is streaming…'), 'streaming');
    },
    chunk(frame) {
      const li = turnOf(frame.message_id)
        || addTurn({ id: frame.message_id, role: 'assistant', status: 'streaming' });
      const follow = nearBottom();
      textOf(li).append(frame.text);
      if (follow) li.scrollIntoView({ block: 'end' });
    },
    end(frame) {
      const li = turnOf(frame.message_id);
      if (li) {
        setStatus(li, frame.status);
        if (frame.error && !li.querySelector('.turn-error')) {
          const error = document.createElement('p');
          error.className = 'turn-error';
          error.textContent = interpolate(gettext('Error: %(error)s'), { error: frame.error }, true);
          li.append(error);
        }
      }
      say(interpolate(gettext('Answer %(status)s. Watching live.'), { status: STATUS_WORDS[frame.status] || frame.status }, true), 'watching');
    },
    error(frame) {
      if (!frame.message_id) say(frame.message, 'error'); // an answer's error: its end follows
    },
  };

  // The chat page's protocol client: the same frames, `seq` checks and back-off (1 s,
  // doubling to 30 s, from the last open); no ping, 4401 and 4403 end the watch.
  const client = new ProtocolClient({
    url: () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${box.dataset.url}`,
    handlers, pingMs: 0, maxDelayMs: 30000, resetOn: 'open', onStatus,
  });

  function onStatus(state, detail) {
    if (state === 'connecting' || state === 'reconnecting') {
      say(gettext('Connecting…'), 'connecting');
    } else if (state === 'waiting') {
      say(gettext('Connection lost; reconnecting…'), 'connecting');
    } else if (state === 'closed') {
      wanted = false;
      say(detail.code === 4403 ? gettext('Not allowed.') : gettext('Logged out.'), 'off');
      button.textContent = gettext('Watch live');
    }
  }

  function start() {
    wanted = true;
    button.textContent = gettext('Stop watching');
    client.open();
  }

  function stop() {
    wanted = false;
    client.close();
    button.textContent = gettext('Watch live');
    say(gettext('Not watching.'), 'off');
  }

  button.addEventListener('click', () => (wanted ? stop() : start()));
  start();
}
