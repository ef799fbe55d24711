// Thumbs up / down on finished answers (POST /api/messages/<id>/feedback/).
// Clicking the active thumb again withdraws it; a thumbs down may carry a comment.
// The icons are inline SVG (no emoji: a machine without an emoji font shows empty boxes);
// the pressed thumb is filled.
'use strict';

(function () {
  const { el, button, request } = window.ChatUtil;
  const LABELS = { up: gettext('Good answer'), down: gettext('Bad answer') };
  // Feather's thumbs-up / thumbs-down (MIT), the thumb and the cuff as separate paths.
  const PATHS = {
    up: ['M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3z',
      'M7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3'],
    down: ['M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3z',
      'M17 2h2.67A2.31 2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17'],
  };
  const icon = (rating) => '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" ' +
    'focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" ' +
    `stroke-linejoin="round"><path class="thumb" d="${PATHS[rating][0]}"/><path d="${PATHS[rating][1]}"/></svg>`;

  // The two buttons, shown in an answer's footer once the answer has ended.
  function controls(messageId, current) {
    const box = el('div', 'feedback');
    box.dataset.id = messageId;
    for (const rating of ['up', 'down']) {
      const b = button(`feedback-button feedback-${rating}`, null, LABELS[rating], null);
      b.innerHTML = icon(rating);  // a constant
      b.dataset.rating = rating;
      b.title = LABELS[rating];
      box.append(b);
    }
    show(box, current);
    return box;
  }

  function show(box, feedback) {
    const rating = feedback ? feedback.rating : null;
    for (const b of box.querySelectorAll('.feedback-button')) {
      b.setAttribute('aria-pressed', String(b.dataset.rating === rating));
    }
    box.dataset.rating = rating || '';
    box.title = feedback && feedback.comment
      ? interpolate(gettext('Your comment: %(comment)s'), { comment: feedback.comment }, true) : '';
  }

  // Handles a click inside the message list; returns true when it was a feedback click.
  function onClick(target, notify) {
    const b = target.closest('.feedback-button');
    if (!b) return false;
    const box = b.closest('.feedback');
    const withdraw = box.dataset.rating === b.dataset.rating;
    send(box, withdraw ? null : b.dataset.rating, notify);
    return true;
  }

  async function send(box, rating, notify) {
    let comment = '';
    if (rating === 'down' && window.ChatDialogs) {
      comment = await window.ChatDialogs.ask({
        title: gettext('What was wrong with this answer?'),
        confirm: gettext('Send feedback'),
        field: { label: gettext('Comment (optional)'), value: '', maxLength: 2000 },
      });
      if (comment === null) return;  // cancelled: no thumbs down either
    }
    try {
      const data = await request(`/api/messages/${encodeURIComponent(box.dataset.id)}/feedback/`,
        'POST', { rating, comment });
      show(box, data.feedback);
      notify(data.feedback ? gettext('Thanks for the feedback.') : gettext('Feedback removed.'));
    } catch (e) {
      notify(interpolate(gettext('Could not save the feedback: %(error)s'), { error: e.message }, true), true);
    }
  }

  window.ChatFeedback = { controls, onClick };
})();
