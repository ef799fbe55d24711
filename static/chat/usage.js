// The day's token budget in the sidebar's footer (issue #22): "12,300 of 50,000 tokens
// today", a thin bar, and a tooltip naming when the budget renews (midnight UTC, shown
// in the browser's own time). Read from GET /api/usage/ when the page loads, when an
// answer ends (frames.js dispatches `chat:answer-end`), when the tab is shown again and
// at the renewal. Nothing is shown when the operator sets no budget.
'use strict';

(function () {
  const meter = document.getElementById('usage-meter');
  if (!meter) return;
  const text = meter.querySelector('.usage-text');
  const fill = meter.querySelector('.usage-bar-fill');
  const lang = window.ChatUtil.lang();  // the page's language: "9:00 AM", "9:00"
  const numbers = new Intl.NumberFormat(lang);
  const clock = { hour: 'numeric', minute: '2-digit' };
  let off = false;  // no budget: the server has none until it restarts
  let renewTimer = null;

  // "3 h 12 min", "45 min", "less than a minute": as the server words it (quotas.wait_words).
  function waitWords(ms) {
    if (ms < 60000) return gettext('less than a minute');
    const total = Math.ceil(ms / 60000);
    const h = Math.floor(total / 60);
    const m = total % 60;
    if (!h) return interpolate(gettext('%(m)s min'), { m }, true);
    return interpolate(m ? gettext('%(h)s h %(m)s min') : gettext('%(h)s h'), { h, m }, true);
  }

  function show(u) {
    const resets = new Date(u.resets_at);
    const at = resets.toLocaleTimeString(lang, clock);
    const spent = u.tokens_today >= u.budget;
    const share = Math.min(u.tokens_today / u.budget, 1);
    const n = { budget: numbers.format(u.budget), used: numbers.format(u.tokens_today), at };
    text.textContent = spent
      ? interpolate(gettext("Today's %(budget)s tokens are used. Renews at %(at)s."), n, true)
      : interpolate(gettext('%(used)s of %(budget)s tokens today'), n, true);
    fill.style.width = `${(share * 100).toFixed(1)}%`;
    meter.dataset.state = spent ? 'spent' : share >= 0.8 ? 'low' : 'ok';
    const wait = waitWords(resets.getTime() - Date.now());
    let tip = interpolate(gettext('Your daily token budget renews at %(at)s (00:00 UTC), in %(wait)s.'), { at, wait }, true);
    if (u.tokens_held > 0) {
      tip += ` ${interpolate(gettext('Answers being written hold up to %(held)s more.'), { held: numbers.format(u.tokens_held) }, true)}`;
    }
    meter.title = tip;
    meter.setAttribute('aria-valuenow', String(Math.min(u.tokens_today, u.budget)));
    meter.setAttribute('aria-valuemax', String(u.budget));
    meter.setAttribute('aria-valuetext', `${text.textContent}. ${tip}`);
    meter.hidden = false;
    // At the renewal the meter starts again from zero (a timer of at most a day).
    clearTimeout(renewTimer);
    renewTimer = setTimeout(refresh, Math.max(resets.getTime() - Date.now(), 0) + 1000);
  }

  async function refresh() {
    if (off) return;
    let u;
    try {
      const res = await fetch('/api/usage/', { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (!res.ok) return;  // logged out or an outage: the meter keeps what it showed
      u = await res.json();
    } catch (e) {
      return;
    }
    if (u.budget == null) {
      off = true;
      meter.hidden = true;
      return;
    }
    show(u);
  }

  window.ChatUsage = { waitWords, refresh };
  document.addEventListener('chat:answer-end', refresh);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
  refresh();
}());
