// What the chat page says about a long conversation's context (issue #25), from
// GET /api/conversations/<id>/summary/ ({summary, context}): pure, no DOM, so that
// node --test reads it. summary.js shows it.
import { formatNumber, gettext, interpolate } from './i18n.js';

// The marker above the messages: 'summarised' (a summary stands in for the oldest
// turns), 'failed' (the last attempt failed: today's cut), 'cut' (the oldest are left
// out, no summary) or 'none' (everything fits, or nothing is known).
export function markerState(data) {
  const context = data && data.context;
  if (!context) return 'none';
  if (context.summarised) return 'summarised';
  if (!context.cut) return 'none';
  const summary = data.summary;
  return summary && summary.status === 'failed' ? 'failed' : 'cut';
}

export function markerText(state) {
  switch (state) {
    case 'summarised': return gettext('Earlier messages are summarised for the model');
    case 'failed': return gettext('Earlier messages could not be summarised: the oldest are left out');
    case 'cut': return gettext('The oldest messages are left out for the model');
    default: return '';
  }
}

// Whether the marker opens the summary's dialog: there is a summary to read or write
// (a failed one may be written by hand); a cleared one stays cleared.
export function markerOpens(data) {
  const summary = data && data.summary;
  return Boolean(summary) && summary.status !== 'cleared' && markerState(data) !== 'none';
}

// Whether to read the API again shortly after an answer ended: the oldest are cut with
// no summary yet, and one may be being written in the background (a cleared one is not
// written again; a failed one waits for the next answer).
export function summaryMayCome(data) {
  return markerState(data) === 'cut' && !(data.summary && data.summary.status === 'cleared');
}

// The context meter: {text, share (0..1), state: ok|low|full}, or null without one.
export function meter(data, locale) {
  const context = data && data.context;
  if (!context || !(context.budget > 0)) return null;
  const share = Math.min(context.used / context.budget, 1);
  const n = { used: formatNumber(context.used, {}, locale), budget: formatNumber(context.budget, {}, locale) };
  const text = interpolate(gettext('%(used)s of %(budget)s characters of context'), n, true);
  const cut = context.cut && !context.summarised;  // the oldest left out, nothing in their place
  const state = cut || share >= 1 ? 'full' : share >= 0.8 ? 'low' : 'ok';
  return { text, share, state };
}
