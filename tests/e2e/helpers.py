"""Page helpers for the e2e tests: sign-up, one chat tab, and its WebSocket frames.

Playwright's sync API delivers events (WebSocket frames, dialogs) only while one of
its calls runs, so every wait here goes through Playwright (`wait_for_*`, `expect`,
or `pump`, which polls with `page.wait_for_timeout`).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Locator, Page, WebSocket, expect

ASSISTANT = '#messages .message[data-role="assistant"]'
USER = '#messages .message[data-role="user"]'
FINAL_STATUSES = ("complete", "stopped", "error")

# Records, in the page, every change of (status, text length) of each assistant
# bubble, every 40 ms: the "it grows while streaming" checks read it afterwards.
SAMPLER_JS = """() => {
  if (window.__e2eSamples) return;
  const samples = window.__e2eSamples = {};
  setInterval(() => {
    for (const b of document.querySelectorAll('#messages .message[data-role="assistant"]')) {
      if (!b.dataset.id) continue;
      const text = b.querySelector('.message-text');
      const now = [b.dataset.status, text ? text.textContent.length : 0];
      const list = samples[b.dataset.id] || (samples[b.dataset.id] = []);
      const last = list[list.length - 1];
      if (!last || last[0] !== now[0] || last[1] !== now[1]) list.push(now);
    }
  }, 40);
}"""

FETCH_CONVERSATION_JS = """async (id) => {
  const res = await fetch(`/api/conversations/${encodeURIComponent(id)}/`,
                          {headers: {Accept: 'application/json'}, credentials: 'same-origin'});
  if (!res.ok) throw new Error(`GET /api/conversations/${id}/ -> ${res.status}`);
  return res.json();
}"""

CREATE_CONVERSATION_JS = """async () => {
  const token = document.querySelector('input[name="csrfmiddlewaretoken"]').value;
  const res = await fetch('/api/conversations/', {method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': token},
    body: '{}'});
  if (res.status !== 201) throw new Error(`POST /api/conversations/ -> ${res.status}`);
  return (await res.json()).id;
}"""


def pump(page: Page, condition: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll `condition` (letting Playwright deliver events) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        page.wait_for_timeout(20)


def sign_up(
    page: Page, base_url: str, username: str | None = None, password: str | None = None
) -> str:
    """Create a fresh user through the real signup form; ends on the chat page."""
    username = username or f"e2e-{uuid.uuid4().hex[:10]}"
    password = password or f"Pw-{uuid.uuid4().hex}"
    page.goto(f"{base_url}/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", password)
    page.fill("#id_password2", password)
    page.locator("form:has(#id_username) [type=submit]").click()
    page.wait_for_url(f"{base_url}/")
    wait_for_chat_page(page)
    return username


def wait_for_chat_page(page: Page) -> None:
    """main.js has run: it always puts something (a placeholder at least) in #messages."""
    page.wait_for_selector("#messages > *", state="attached")


@dataclass
class Socket:
    """One WebSocket of a page: its URL and the JSON frames it received and sent."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.received if f.get("type") == kind]

    def history(self) -> dict[str, Any] | None:
        frames = self.of_type("history")
        return frames[0] if frames else None

    def chunks(self, message_id: str) -> list[dict[str, Any]]:
        return [f for f in self.of_type("chunk") if f.get("message_id") == message_id]

    def end(self, message_id: str) -> dict[str, Any] | None:
        return next((f for f in self.of_type("end") if f.get("message_id") == message_id), None)

    def received_text(self, message_id: str) -> str:
        """This connection's view of an answer: its `history` text, then its chunks in seq
        order (the seqs must be exactly 0, 1, 2…)."""
        chunks = sorted(self.chunks(message_id), key=lambda f: f["seq"])
        seqs = [f["seq"] for f in chunks]
        assert seqs == list(range(len(chunks))), f"chunk seqs of {message_id}: {seqs}"
        before = ""
        history = self.history()
        if history:
            saved = [m for m in history["messages"] if m["id"] == message_id]
            before = saved[0]["content"] if saved else ""
        return before + "".join(f["text"] for f in chunks)


class FrameLog:
    """Every WebSocket a page opens (reloads included), in order, with parsed frames."""

    def __init__(self, page: Page) -> None:
        self.sockets: list[Socket] = []
        page.on("websocket", self._on_websocket)

    def _on_websocket(self, ws: WebSocket) -> None:
        socket = Socket(ws.url)
        self.sockets.append(socket)
        ws.on("framereceived", lambda payload: socket.received.append(_parse(payload)))
        ws.on("framesent", lambda payload: socket.sent.append(_parse(payload)))

    def all_received(self) -> list[dict[str, Any]]:
        return [frame for socket in self.sockets for frame in socket.received]

    def all_sent(self) -> list[dict[str, Any]]:
        return [frame for socket in self.sockets for frame in socket.sent]

    def with_end(self, message_id: str) -> list[Socket]:
        return [s for s in self.sockets if s.end(message_id)]


def _parse(payload: str | bytes) -> dict[str, Any]:
    try:
        frame = json.loads(payload)
    except ValueError:
        return {"type": "<not json>", "raw": payload}
    return frame if isinstance(frame, dict) else {"type": "<not an object>", "raw": frame}


class ChatTab:
    """One tab on the chat page, with the frames its WebSockets received."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.frames = FrameLog(page)
        page.add_init_script(f"({SAMPLER_JS})()")

    # --- navigation ---------------------------------------------------------------

    def open_tab(self, path: str = "/", base_url: str | None = None) -> ChatTab:
        """Another tab of the same user (same browser context, so the same session)."""
        tab = ChatTab(self.page.context.new_page(), base_url or self.base_url)
        tab.page.goto(f"{tab.base_url}{path}")
        wait_for_chat_page(tab.page)
        return tab

    def conversation_id(self) -> str:
        self.page.wait_for_url(re.compile(r"/c/[^/]+/$"))
        return self.page.url.rstrip("/").rsplit("/", 1)[-1]

    def new_chat(self) -> str:
        """A new, empty conversation, opened at its URL; waits for its socket's history.
        Made through the JSON API, as a script would: the page's "New chat" saves
        nothing until the first message (tests/e2e/test_sidebar.py)."""
        conversation_id = str(self.page.evaluate(CREATE_CONVERSATION_JS))
        self.page.goto(f"{self.base_url}/c/{conversation_id}/")
        wait_for_chat_page(self.page)
        self.wait_connected()
        return conversation_id

    def wait_connected(self) -> Socket:
        """The newest socket is open and has delivered its `history` frame."""
        expect(self.page.locator("#connection-status")).to_have_attribute("data-state", "connected")
        return pump(
            self.page,
            lambda: (
                self.frames.sockets
                and self.frames.sockets[-1].history()
                and self.frames.sockets[-1]
            ),
            "the history frame",
        )

    def choose_options(self, chunking: str | None = None, read_aloud: bool | None = None) -> None:
        """Set options the way a user does: open the composer's options popover, choose,
        and close it with Escape."""
        popover = self.page.locator("#options-popover")
        self.page.click("#options-button")
        expect(popover).to_be_visible()
        if chunking is not None:
            self.page.select_option("#chunking-select", chunking)
        if read_aloud is not None:
            self.page.locator("#read-aloud-toggle").set_checked(read_aloud)
        self.page.keyboard.press("Escape")
        expect(popover).to_be_hidden()

    # --- sending ------------------------------------------------------------------

    def send(self, text: str) -> int:
        """Type a message and press Enter; returns the index its answer's bubble will have."""
        index = self.page.locator(ASSISTANT).count()
        self.page.fill("#message-input", text)
        self.page.press("#message-input", "Enter")
        return index

    def answer_id(self, index: int) -> str:
        """The message id of the assistant bubble at `index`, once it exists."""
        bubble = self.page.locator(ASSISTANT).nth(index)
        expect(bubble).to_have_attribute("data-id", re.compile(r".+"))
        return bubble.get_attribute("data-id") or ""

    def ask(self, text: str) -> str:
        """Send a message; returns the id of the assistant answer it started."""
        return self.answer_id(self.send(text))

    # --- reading ------------------------------------------------------------------

    def bubble(self, message_id: str) -> Locator:
        return self.page.locator(f'#messages .message[data-id="{message_id}"]')

    def message_text(self, message_id: str) -> Locator:
        return self.bubble(message_id).locator(".message-text")

    def text_length(self, message_id: str) -> int:
        return len(self.message_text(message_id).text_content() or "")

    def wait_text_length(self, message_id: str, at_least: int) -> None:
        self.page.wait_for_function(
            """([id, n]) => {
              const t = document.querySelector(`#messages .message[data-id="${id}"] .message-text`);
              return t && t.textContent.length >= n;
            }""",
            arg=[message_id, at_least],
        )

    def wait_status(self, message_id: str, status: str, timeout: float = 20_000) -> None:
        expect(self.bubble(message_id)).to_have_attribute("data-status", status, timeout=timeout)

    def wait_end(self, message_id: str) -> dict[str, Any]:
        """The `end` frame of the answer, on the newest socket that has one."""
        sockets = pump(self.page, lambda: self.frames.with_end(message_id), "the end frame")
        end = sockets[-1].end(message_id)
        assert end is not None
        return end

    def finish(self, message_id: str, status: str = "complete") -> dict[str, Any]:
        """Wait until the answer is over, on the page and on the wire."""
        self.wait_status(message_id, status)
        end = self.wait_end(message_id)
        assert end["status"] == status, end
        return end

    def streaming_lengths(self, message_id: str) -> list[int]:
        """Text lengths the page showed while the answer had data-status="streaming"."""
        samples = self.page.evaluate("(id) => (window.__e2eSamples || {})[id] || []", message_id)
        return [length for status, length in samples if status == "streaming"]

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        """The database's truth, through the JSON API, as this logged-in page."""
        return self.page.evaluate(FETCH_CONVERSATION_JS, conversation_id)

    def saved_message(self, conversation_id: str, message_id: str) -> dict[str, Any]:
        messages = self.conversation(conversation_id)["messages"]
        found = [m for m in messages if m["id"] == message_id]
        assert found, f"message {message_id} is not in conversation {conversation_id}"
        return found[0]

    def assert_wire_matches_db(self, conversation_id: str, message_id: str) -> dict[str, Any]:
        """The contract's invariant, for every socket of this tab that saw the answer end:
        history text + chunk texts in seq order == the content saved in the database."""
        saved = self.saved_message(conversation_id, message_id)
        sockets = self.frames.with_end(message_id)
        assert sockets, f"no socket of this tab received the end of {message_id}"
        for socket in sockets:
            assert socket.received_text(message_id) == saved["content"], socket.url
        return saved


def grew_while_streaming(lengths: list[int]) -> bool:
    """At least three different lengths were seen while streaming, and the text grew."""
    return len(set(lengths)) >= 3 and lengths[-1] > lengths[0]
