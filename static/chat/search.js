// Sidebar search over the user's own conversations (GET /api/search/?q=), and the jump to a
// message: /c/<conversation>/#m-<message id>. Loaded after util.js and the chat page's modules (main.js). They own
// the page; this file only reads the message list (.message[data-id], render.js's bubbles),
// presses its "Show earlier messages" button to page back, and opens a conversation the way
// the browser's back button does (a popstate event, which main.js answers).
// Snippets arrive as plain text plus highlight ranges: they become text nodes and <mark>s,
// never HTML, and are shown as they are (only the words around them are translated).
'use strict';

(function () {
  const { el, request, lang } = window.ChatUtil;
  const $ = (id) => document.getElementById(id);
  const els = {
    sidebar: $('sidebar'), input: $('search-input'), results: $('search-results'),
    status: $('search-status'), hits: $('search-hits'), messages: $('messages'),
  };
  if (!els.input || !els.messages) return;

  const DEBOUNCE_MS = 250;
  const REVEAL_TIMEOUT_MS = 20000;
  const FLASH_MS = 2500;
  const TARGET = /^#m-([0-9a-fA-F-]{36})$/;
  const ROLES = { user: gettext('You'), assistant: gettext('Assistant') };

  const search = { timer: 0, seq: 0, query: '' };

  // ---- searching ------------------------------------------------------------

  function onInput() {
    clearTimeout(search.timer);
    const query = els.input.value.trim();
    if (!query) return close();
    if (query === search.query) return;
    search.timer = setTimeout(() => run(query), DEBOUNCE_MS);
  }

  async function run(query) {
    clearTimeout(search.timer);
    search.query = query;
    const seq = ++search.seq;  // only the newest answer is shown
    open();
    setStatus(gettext('Searching…'));
    try {
      const data = await request(`/api/search/?q=${encodeURIComponent(query)}`);
      if (seq === search.seq) render(data.results || []);
    } catch (e) {
      if (seq === search.seq) {
        els.hits.replaceChildren();
        setStatus(e.message);
      }
    }
  }

  function open() {
    els.results.hidden = false;
    els.sidebar.classList.add('searching');
  }

  // Back to the conversation list.
  function close() {
    clearTimeout(search.timer);
    search.seq += 1;
    search.query = '';
    els.results.hidden = true;
    els.sidebar.classList.remove('searching');
    els.hits.replaceChildren();
    setStatus('');
  }

  const setStatus = (text) => { els.status.textContent = text; };

  // ---- results --------------------------------------------------------------

  function render(results) {
    els.hits.replaceChildren(...results.map(hitItem));
    const n = results.length;
    // The server sends at most 30: "30+ matches".
    const count = new Intl.NumberFormat(lang()).format(n);
    const words = n >= 30 ? gettext('%(count)s+ matches') : ngettext('%(count)s match', '%(count)s matches', n);
    setStatus(n ? interpolate(words, { count }, true) : gettext('No matches.'));
  }

  function hitItem(hit) {
    const li = el('li', 'search-hit');
    const a = el('a', 'search-hit-link');
    a.href = hitUrl(hit);
    a.dataset.conversationId = hit.conversation_id;
    if (hit.message_id) a.dataset.messageId = hit.message_id;
    const head = el('span', 'search-hit-head');
    const title = hit.conversation_title || gettext('Untitled');
    if (hit.message_id) {
      head.append(el('span', 'search-hit-title', title), el('span', 'search-hit-role', ROLES[hit.role] || hit.role));
    } else {
      head.append(highlighted('search-hit-title', hit.snippet, hit.highlights), el('span', 'search-hit-role', gettext('Title')));
    }
    head.append(when(hit.created));
    a.append(head);
    if (hit.message_id) a.append(highlighted('search-hit-snippet', hit.snippet, hit.highlights));
    a.addEventListener('click', (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;  // new tab
      e.preventDefault();
      jump(hit.conversation_id, hit.message_id);
    });
    li.append(a);
    return li;
  }

  const hitUrl = (hit) => `/c/${encodeURIComponent(hit.conversation_id)}/` +
    (hit.message_id ? `#m-${encodeURIComponent(hit.message_id)}` : '');

  // Text with <mark>s over [start, end) ranges counted in code points (not UTF-16 units).
  function highlighted(className, text, ranges) {
    const node = el('span', className);
    const chars = Array.from(text || '');
    let at = 0;
    for (const [start, end] of ranges || []) {
      if (start < at || end <= start) continue;
      if (start > at) node.append(document.createTextNode(chars.slice(at, start).join('')));
      node.append(el('mark', null, chars.slice(start, end).join('')));
      at = end;
    }
    if (at < chars.length) node.append(document.createTextNode(chars.slice(at).join('')));
    return node;
  }

  function when(iso) {
    const d = new Date(iso);
    const t = el('time', 'search-hit-time');
    if (Number.isNaN(d.getTime())) return t;
    t.dateTime = d.toISOString();
    const today = d.toDateString() === new Date().toDateString();
    t.textContent = today
      ? d.toLocaleTimeString(lang(), { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      : d.toLocaleDateString(lang(), { day: 'numeric', month: 'short', year: 'numeric' });
    t.title = d.toLocaleString(lang(), { dateStyle: 'full', timeStyle: 'short' });
    return t;
  }

  // ---- the jump -------------------------------------------------------------

  function jump(conversationId, messageId) {
    const path = `/c/${encodeURIComponent(conversationId)}/`;
    const url = path + (messageId ? `#m-${messageId}` : '');
    if (location.pathname === path) {
      history.replaceState(history.state, '', url);
    } else {
      history.pushState({ conversationId }, '', url);
      // main.js opens the conversation in the path, as after the back button.
      window.dispatchEvent(new PopStateEvent('popstate', { state: { conversationId } }));
    }
    if (messageId) reveal(messageId);
  }

  const revealing = { observer: null, timer: 0 };

  // Scrolls to the message once render.js has drawn it, asking for older pages
  // (load_older, through the list's own button) until it comes or none are left.
  function reveal(messageId) {
    stopRevealing();
    const selector = `.message[data-id="${CSS.escape(messageId)}"]`;
    const check = () => {
      const bubble = els.messages.querySelector(selector);
      if (bubble) {
        stopRevealing();
        flash(bubble);
        return;
      }
      const drawn = els.messages.querySelector('.message[data-id]');
      const older = els.messages.querySelector('.load-older');
      if (older && drawn) {
        if (!older.disabled) older.click();  // its answer adds bubbles: checked again then
      } else if (drawn) {
        stopRevealing();  // every page is here: not on the path shown (another branch)
      }
    };
    revealing.observer = new MutationObserver(check);
    revealing.observer.observe(els.messages, { childList: true });
    revealing.timer = setTimeout(stopRevealing, REVEAL_TIMEOUT_MS);
    check();
  }

  function stopRevealing() {
    if (revealing.observer) revealing.observer.disconnect();
    clearTimeout(revealing.timer);
    revealing.observer = null;
  }

  function flash(bubble) {
    bubble.scrollIntoView({ block: 'center' });
    bubble.classList.add('search-target');
    setTimeout(() => bubble.classList.remove('search-target'), FLASH_MS);
    if (TARGET.test(location.hash)) history.replaceState(history.state, '', location.pathname);
  }

  function revealFromHash() {
    const m = location.hash.match(TARGET);
    if (m) reveal(m[1]);
  }

  // ---- wiring ---------------------------------------------------------------

  els.input.addEventListener('input', onInput);
  els.input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      els.input.value = '';
      close();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      const query = els.input.value.trim();
      if (query) run(query);
    } else if (e.key === 'ArrowDown') {
      const first = els.hits.querySelector('a');
      if (first) { e.preventDefault(); first.focus(); }
    }
  });
  els.hits.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'Escape') return;
    e.preventDefault();
    if (e.key === 'Escape') { els.input.focus(); return; }
    const links = [...els.hits.querySelectorAll('a')];
    const i = links.indexOf(document.activeElement) + (e.key === 'ArrowDown' ? 1 : -1);
    if (i < 0) els.input.focus();
    else if (links[i]) links[i].focus();
  });
  window.addEventListener('hashchange', revealFromHash);
  revealFromHash();
}());
