// Live tail on the admin transcript page: read-only view of an answer as it streams.
'use strict';
(function () {
  const box = document.getElementById('live-tail');
  if (!box) return;
  const button = document.getElementById('live-tail-start');
  const status = document.getElementById('live-tail-status');
  const text = document.getElementById('live-tail-text');
  let socket = null;

  function start() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    socket = new WebSocket(`${scheme}://${location.host}${box.dataset.url}`);
    button.disabled = true;
    status.textContent = 'Connecting…';
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === 'history') {
        const live = frame.messages.find((m) => m.status === 'streaming');
        text.hidden = false;
        text.textContent = live ? live.content : '';
        status.textContent = live ? 'Streaming now…' : 'Watching: no answer is streaming right now.';
      } else if (frame.type === 'message') {
        text.textContent = '';
        status.textContent = 'New user message; waiting for the answer…';
      } else if (frame.type === 'start') {
        text.textContent = '';
        status.textContent = `Streaming now (${frame.model})…`;
      } else if (frame.type === 'chunk') {
        text.textContent += frame.text; // textContent: model output is never HTML here
      } else if (frame.type === 'end') {
        status.textContent = `Answer ${frame.status}. Reload the page to see it in the transcript.`;
      } else if (frame.type === 'error') {
        status.textContent = frame.message;
      }
    };
    socket.onclose = (event) => {
      button.disabled = false;
      status.textContent = event.code === 4403 ? 'Not allowed.' : 'Stopped watching.';
    };
  }
  button.addEventListener('click', start);
})();
