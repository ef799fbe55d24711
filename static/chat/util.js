// Small DOM and browser helpers shared by the chat page scripts (no state of their own).
// Exposes window.ChatUtil. Like every classic script here, it takes its words from the
// catalogue's globals (gettext, ngettext, interpolate: the /jsi18n/ script loaded first).
'use strict';

(function () {
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function button(className, text, label, onClick) {
    const b = el('button', className, text);
    Object.assign(b, { type: 'button', onclick: onClick });
    b.setAttribute('aria-label', label);
    return b;
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // randomUUID exists only in secure contexts (https, localhost), not on plain http.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function csrfToken() {
    const input = document.querySelector('input[name="csrfmiddlewaretoken"]');
    if (input) return input.value;
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : '';
  }

  // The page's language (<html lang>, the server's choice) for Intl and toLocale*().
  const lang = () => document.documentElement.lang || navigator.language || 'en';

  const loginUrl = () => '/accounts/login/?next=' + encodeURIComponent(location.pathname + location.search);

  // <time datetime="…">14:05</time>: local hours and minutes, the full date in the tooltip.
  function timeElement(iso) {
    const d = iso ? new Date(iso) : new Date();
    const t = el('time', 'message-time');
    if (Number.isNaN(d.getTime())) return t;
    t.dateTime = d.toISOString();
    t.textContent = d.toLocaleTimeString(lang(), { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    t.title = d.toLocaleString(lang(), { dateStyle: 'full', timeStyle: 'medium' });
    return t;
  }

  // Resolves to true when the text is on the clipboard.
  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (e) { /* permission refused: try the old way */ }
    }
    // Plain http has no Clipboard API: copy the selection of a hidden textarea.
    const focused = document.activeElement;
    const area = el('textarea', 'clipboard-helper');
    area.value = text;
    area.setAttribute('readonly', '');
    area.setAttribute('aria-hidden', 'true');
    document.body.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    area.remove();
    if (focused && focused.focus) focused.focus();
    return ok;
  }

  // Copies, then says "Copied" on the button (and to `announce`) for a moment.
  async function copyWithFeedback(btn, text, announce) {
    const ok = await copyText(text);
    const label = btn.querySelector('.copy-label');
    const word = ok ? gettext('Copied') : gettext('Copy failed');
    btn.classList.toggle('copied', ok);
    btn.dataset.copied = ok ? 'yes' : 'no';
    if (label) label.textContent = word;
    if (announce) announce(word);
    clearTimeout(btn.copyTimer);
    btn.copyTimer = setTimeout(() => {
      btn.classList.remove('copied');
      delete btn.dataset.copied;
      if (label) label.textContent = gettext('Copy');
    }, 1600);
  }

  // JSON request with the session cookie and, on writes, the CSRF token. Rejects with a
  // readable message; a 401 (or an auth 403) sends the browser to the login page.
  async function request(url, method = 'GET', body) {
    const headers = { Accept: 'application/json' };
    const opts = { method, headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    if (method !== 'GET') headers['X-CSRFToken'] = csrfToken();
    const res = await fetch(url, opts);
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch (e) { /* not JSON, e.g. an HTML error page */ }
    }
    const err = data && data.error;
    if (res.status === 401 || (res.status === 403 && err && /auth|login/i.test(err.code || ''))) {
      location.href = loginUrl();
      throw new Error(gettext('You are not logged in.'));
    }
    if (!res.ok) throw new Error((err && err.message) ||
      interpolate(gettext('Request failed (%(status)s %(reason)s).'), { status: res.status, reason: res.statusText }, true));
    return data;
  }

  // A 16 px stroke icon (Feather style, MIT) from its path data: a constant, never user text.
  const icon = (d) => '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false" ' +
    `fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="${d}"/></svg>`;

  window.ChatUtil = { el, button, uuid, csrfToken, lang, loginUrl, timeElement, copyText, copyWithFeedback, request, icon };
}());
