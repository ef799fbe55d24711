"""Chat page features in a real Chromium: Markdown, copy, read aloud, feedback, and the
staff review screens (feedback filter, live tail) on the same real servers."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import ASSISTANT, USER, ChatTab
from tests.e2e.proxy import CuttableProxy
from tests.e2e.servers import Server, manage

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]

# Records what would be spoken: headless Chromium has no voices to listen to.
SPEECH_STUB = """() => {
  window.__spoken = [];
  class FakeUtterance { constructor(text) { this.text = text; this.lang = ''; } }
  window.SpeechSynthesisUtterance = FakeUtterance;
  Object.defineProperty(window, 'speechSynthesis', { configurable: true, value: {
    speak(u) { window.__spoken.push({ text: u.text, lang: u.lang }); },
    cancel() { window.__spoken.push({ cancel: true }); },
    pause() {}, resume() {}, getVoices() { return []; },
    speaking: false, pending: false, addEventListener() {}, removeEventListener() {},
  }});
}"""


def test_markdown_renders_and_external_images_are_blocked(new_user: NewUser) -> None:
    """Code blocks and tables render; an external image is never requested."""
    tab = new_user()
    requested: list[str] = []
    tab.page.on("request", lambda request: requested.append(request.url))
    markdown = (
        "/echo # Plan\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint('hi')\n```\n\n"
        "![tracker](http://tracker.invalid/pixel.png) and **bold**"
    )
    answer = tab.ask(markdown)
    tab.finish(answer)
    text = tab.message_text(answer)
    expect(text.locator("h1")).to_have_text("Plan")
    expect(text.locator("table td").first).to_have_text("1")
    expect(text.locator("pre code")).to_contain_text("print('hi')")
    expect(text.locator("strong")).to_have_text("bold")
    assert text.locator("img").count() == 0
    expect(text).to_contain_text("tracker")
    assert not [url for url in requested if "tracker.invalid" in url]


def test_copy_button_copies_the_raw_answer(new_user: NewUser) -> None:
    tab = new_user(permissions=["clipboard-read", "clipboard-write"])
    answer = tab.ask("/echo Copy **this** exactly.\nSecond line")
    tab.finish(answer)
    tab.bubble(answer).locator(".copy-button").click()
    expect(tab.bubble(answer).locator(".copy-button")).to_contain_text("Copied")
    copied = tab.page.evaluate("navigator.clipboard.readText()")
    assert copied == "Copy **this** exactly.\nSecond line"


def test_read_aloud_speaks_whole_sentences_as_they_arrive(new_user: NewUser) -> None:
    """The text-to-speech use of chunking: sentence mode speaks one sentence at a time."""
    tab = new_user()
    tab.page.add_init_script(f"({SPEECH_STUB})()")
    tab.page.reload()
    expect(tab.page.locator("#read-aloud-toggle")).to_be_enabled()
    tab.choose_options(chunking="sentence", read_aloud=True)
    answer = tab.ask("/echo First sentence here. Second one! 日本語の文です。Last words")
    tab.finish(answer)
    spoken = tab.page.evaluate("window.__spoken")
    texts = [item["text"].strip() for item in spoken if "text" in item]
    assert texts == ["First sentence here.", "Second one!", "日本語の文です。", "Last words"]
    langs = [item["lang"] for item in spoken if "text" in item]
    assert langs[2] == "ja-JP" and langs[0] != "ja-JP"


def _staff_page(browser, server: Server, server_env: dict):
    username = f"staff-{uuid.uuid4().hex[:8]}"
    env = {
        **server_env,
        "DJANGO_SUPERUSER_USERNAME": username,
        "DJANGO_SUPERUSER_PASSWORD": "staff-pass-123",
        "DJANGO_SUPERUSER_EMAIL": "",
    }
    manage(env, "createsuperuser", "--noinput", timeout=60)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "staff-pass-123")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    return context, page


def test_thumbs_down_reaches_the_admin_feedback_filter(
    new_user: NewUser,
    browser,
    server: Server,
    server_env: dict,
) -> None:
    tab = new_user()
    answer = tab.ask("Rate me please")
    tab.finish(answer)
    tab.bubble(answer).locator(".feedback-down").click()
    dialog = tab.page.locator("#app-dialog")  # the in-page dialog, not window.prompt
    expect(dialog).to_be_visible()
    dialog.locator("input").fill("Not what I asked")
    dialog.locator("input").press("Enter")
    expect(dialog).to_be_hidden()
    expect(tab.bubble(answer).locator(".feedback-down")).to_have_attribute("aria-pressed", "true")
    conversation = tab.conversation_id()
    saved = tab.saved_message(conversation, answer)
    assert saved["feedback"] == {"rating": "down", "comment": "Not what I asked"}
    context, page = _staff_page(browser, server, server_env)
    try:
        page.goto(f"{server.url}/admin/chat/conversation/?feedback=down")
        expect(page.locator(f'#result_list a[href*="{conversation}"]')).to_have_count(1)
        page.goto(f"{server.url}/admin/chat/conversation/{conversation}/change/")
        expect(page.locator("#transcript")).to_contain_text("Not what I asked")
    finally:
        context.close()


def test_staff_live_tail_shows_an_answer_while_it_streams(
    new_user: NewUser,
    browser,
    server: Server,
    server_env: dict,
) -> None:
    """Staff open the transcript page and watch, with no click: the user's new message
    appears, then the answer streams in; the user's answer is intact. The same 1400 px
    window shows the conversation list's review state column whole."""
    tab = new_user(username=f"e2e-owner-with-a-rather-long-name-{uuid.uuid4().hex[:8]}")
    conversation = tab.new_chat()
    context, page = _staff_page(browser, server, server_env)
    try:
        page.goto(f"{server.url}/admin/chat/conversation/{conversation}/change/")
        status = page.locator("#live-tail-status")
        expect(status).to_have_attribute("data-state", "watching")  # started by itself
        answer = tab.ask("/echo " + " ".join(f"word{i}" for i in range(150)))
        turns = page.locator("#transcript li.turn")
        expect(turns.nth(0)).to_have_attribute("data-role", "user")
        expect(turns.nth(0).locator(".turn-text")).to_contain_text("word149")
        live = page.locator(f'#transcript li.turn[data-id="{answer}"]')
        expect(live).to_have_attribute("data-role", "assistant")
        expect(live.locator(".turn-text")).to_contain_text("word1")
        # Caught mid-stream (about 9 s of answer at the servers' 30 ms a token).
        assert live.get_attribute("data-status") == "streaming"
        assert "word149" not in (live.locator(".turn-text").text_content() or "")
        expect(status).to_contain_text("Answer complete", timeout=30_000)
        expect(live).to_have_attribute("data-status", "complete")
        tab.finish(answer)
        saved = tab.assert_wire_matches_db(conversation, answer)
        assert live.locator(".turn-text").text_content() == saved["content"]
        expect(turns).to_have_count(2)

        page.goto(f"{server.url}/admin/chat/conversation/")
        cells = page.locator("#result_list td.field-review_state")
        expect(cells.first).to_be_visible()
        scroller = page.locator("#changelist .results").bounding_box()
        assert scroller is not None
        visible_right = min(page.viewport_size["width"], scroller["x"] + scroller["width"])
        for index in range(cells.count()):
            box = cells.nth(index).bounding_box()
            assert box is not None and box["x"] >= 0
            assert box["x"] + box["width"] <= visible_right + 0.5, (box, visible_right)
        widths = page.evaluate(
            "() => { const r = document.querySelector('#changelist .results');"
            " return [r.scrollWidth, r.clientWidth]; }"
        )
        assert widths[0] <= widths[1], f"the list scrolls sideways: {widths}"
    finally:
        context.close()


def test_dropped_connection_reconnects_and_resumes_the_answer(
    new_user: NewUser, server: Server
) -> None:
    """The network drops mid-answer (the server keeps running): the page shows it,
    reconnects by itself, and the answer ends complete, shown once, equal to the DB."""
    proxy = CuttableProxy(server.port)
    try:
        tab = new_user(base_url=proxy.url)
        answer = tab.ask("/echo " + " ".join(f"token{i}" for i in range(150)))
        conversation = tab.conversation_id()
        tab.wait_text_length(answer, 40)
        proxy.cut()
        expect(tab.page.locator("#connection-status")).to_have_attribute(
            "data-state", "reconnecting"
        )
        expect(tab.page.locator("#connection-status")).to_have_attribute(
            "data-state", "connected", timeout=20_000
        )
        tab.finish(answer)
        saved = tab.assert_wire_matches_db(conversation, answer)
        assert saved["status"] == "complete"
        assert len(tab.frames.with_end(answer)) == 1 and len(tab.frames.sockets) >= 2
        expect(tab.page.locator(f'.message[data-id="{answer}"]')).to_have_count(1)
        assert (tab.message_text(answer).text_content() or "").strip() == saved["content"]
    finally:
        proxy.close()


# Swallows the page's next user_message frame: it counts as sent, the server never sees it.
DROP_NEXT_USER_MESSAGE_JS = """() => {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (!window.__dropped && String(data).includes('"user_message"')) {
      window.__dropped = true;
      return undefined;
    }
    return send.call(this, data);
  };
}"""


def test_unconfirmed_message_is_resent_after_a_drop_even_with_the_same_text(
    new_user: NewUser, server: Server
) -> None:
    """A message sent just before the network drops, and never confirmed, is resent on
    the next connection: the history's client_ids tell it apart from an earlier message
    with the same text, so it is neither lost nor doubled."""
    proxy = CuttableProxy(server.port)
    try:
        tab = new_user(base_url=proxy.url)
        first = tab.ask("Same words")
        conversation = tab.conversation_id()
        tab.finish(first)
        tab.page.evaluate(DROP_NEXT_USER_MESSAGE_JS)
        index = tab.send("Same words")
        tab.page.wait_for_function("() => window.__dropped === true")
        proxy.cut()
        second = tab.answer_id(index)  # only if the message was resent after reconnecting
        tab.finish(second)
        users = [m for m in tab.conversation(conversation)["messages"] if m["role"] == "user"]
        assert [m["content"] for m in users] == ["Same words", "Same words"]
        assert users[0]["client_id"] and users[1]["client_id"]
        assert users[0]["client_id"] != users[1]["client_id"]
        expect(tab.page.locator(USER)).to_have_count(2)
        expect(tab.page.locator(ASSISTANT)).to_have_count(2)
    finally:
        proxy.close()


OLDER_MESSAGES = """
from datetime import timedelta
from django.utils import timezone
from chat.models import Message
start = timezone.now() - timedelta(days=1)
rows = []
for i in range(60):  # one path, each message after the one before
    rows.append(Message(conversation_id="{cid}", parent=rows[-1] if rows else None,
                        role="user", content=f"old {{i}}"))
Message.objects.bulk_create(rows)
for i, row in enumerate(rows):
    Message.objects.filter(pk=row.pk).update(created=start + timedelta(seconds=i))
# The exchange already there now follows them.
Message.objects.filter(conversation_id="{cid}", parent=None).exclude(
    pk__in=[r.pk for r in rows]).update(parent=rows[-1])
"""


def test_a_long_conversation_shows_its_newest_page_and_older_ones_on_request(
    new_user: NewUser, server_env: dict
) -> None:
    tab = new_user()
    conversation_id = tab.new_chat()
    tab.finish(tab.ask("/echo the newest exchange"))
    manage(server_env, "shell", "-c", OLDER_MESSAGES.format(cid=conversation_id))
    tab.page.reload()
    tab.wait_connected()
    messages = tab.page.locator("#messages .message")
    expect(messages).to_have_count(50)  # CHAT_HISTORY_PAGE
    older = tab.page.locator("#messages .load-older")
    expect(older).to_be_visible()
    older.click()
    expect(messages).to_have_count(62)
    expect(older).to_have_count(0)
    expect(messages.first).to_contain_text("old 0")
    expect(messages.last).to_contain_text("the newest exchange")
