// Thumbs up / down on finished answers (POST /api/messages/<id>/feedback/).
// Clicking the active thumb again withdraws it; a thumbs down may carry a comment.
'use strict';

(function () {
  const { el, button, request } = window.ChatUtil;
  const LABELS = { up: 'Good answer', down: 'Bad answer' };

  // The two buttons, shown in an answer's footer once the answer has ended.
  function controls(messageId, current) {
    const box = el('div', 'feedback');
    box.dataset.id = messageId;
    for (const rating of ['up', 'down']) {
      const b = button(`feedback-button feedback-${rating}`, rating === 'up' ? '👍' : '👎',
        LABELS[rating], null);
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
    box.title = feedback && feedback.comment ? `Your comment: ${feedback.comment}` : '';
  }

  // Handles a click inside the message list; returns true when it was a feedback click.
  function onClick(target, notify) {
    const b = target.closest('.feedback-button');
    if (!b) return false;
    const box = b.closest('.feedback');
    const withdraw = box.dataset.rating === b.dataset.rating;
    let comment = '';
    if (!withdraw && b.dataset.rating === 'down') {
      comment = window.prompt('What was wrong with this answer? (optional)') || '';
    }
    const body = { rating: withdraw ? null : b.dataset.rating, comment };
    request(`/api/messages/${encodeURIComponent(box.dataset.id)}/feedback/`, 'POST', body)
      .then((data) => {
        show(box, data.feedback);
        notify(data.feedback ? 'Thanks for the feedback.' : 'Feedback removed.');
      })
      .catch((e) => notify(`Could not save the feedback: ${e.message}`, true));
    return true;
  }

  window.ChatFeedback = { controls, onClick };
})();
