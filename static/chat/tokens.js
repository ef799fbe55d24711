// The API token page: the Copy button of a token just created.
'use strict';

(function () {
  const button = document.getElementById('copy-token');
  if (!button) return;
  const value = document.getElementById(button.dataset.copy);
  button.addEventListener('click', () => window.ChatUtil.copyWithFeedback(button, value.textContent.trim()));
}());
