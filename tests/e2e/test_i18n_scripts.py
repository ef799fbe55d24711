"""The scripts' words in the browser's language (issue #24): a browser that asks for
Japanese gets the chat page's script-made labels in Japanese from /jsi18n/, one that asks
for English gets English, and the model's answer is shown exactly as the model wrote
it in both (it is never passed through the catalogue, even when it is a word the
catalogue translates)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import ChatTab

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]

# What the scripts write, per browser language: the connection status, the sidebar's
# day group, the roles of the bubbles, the message box's placeholder, the copy button.
LABELS = {
    "ja-JP": {
        "status": "接続済み",
        "today": "今日",
        "you": "あなた",
        "assistant": "アシスタント",
        "placeholder": "メッセージ（Enter で送信）",
        "copy": "コピー",
    },
    "en-US": {
        "status": "Connected",
        "today": "Today",
        "you": "You",
        "assistant": "Assistant",
        "placeholder": "Message (Enter to send)",
        "copy": "Copy",
    },
}
# Words the catalogue translates: the model says them, and they must stay as they are.
ANSWER = "Connected"


@pytest.mark.parametrize("locale", list(LABELS))
def test_the_scripts_speak_the_browsers_language_and_leave_the_answer_alone(
    new_user: NewUser, locale: str
) -> None:
    labels = LABELS[locale]
    tab = new_user(locale=locale)
    page = tab.page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.reload()
    expect(page.locator("#message-input")).to_have_attribute("placeholder", labels["placeholder"])

    answer = tab.ask(f"/echo {ANSWER}")
    tab.finish(answer)
    expect(page.locator("#connection-status")).to_have_text(labels["status"])
    expect(page.locator("#conversation-list .conversation-group-title")).to_have_text(
        [labels["today"]]
    )
    bubble = tab.bubble(answer)
    expect(bubble.locator(".message-role")).to_have_text(labels["assistant"])
    expect(page.locator('#messages .message[data-role="user"] .message-role')).to_have_text(
        [labels["you"]]
    )
    expect(bubble.locator(".copy-label")).to_have_text(labels["copy"])
    # The model's words, exactly: on the page, on the wire and as saved.
    expect(tab.message_text(answer)).to_have_text(ANSWER)
    saved = tab.assert_wire_matches_db(tab.conversation_id(), answer)
    assert saved["content"] == ANSWER
    assert errors == []
