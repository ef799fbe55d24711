"""The offline demo model in a real Chromium, as a newcomer meets it (issue #22, item 1):
a stopped answer continues where it stopped, a regenerated answer differs, the second
offline model answers in Japanese, and instructions change the answer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from langchain_core.messages import HumanMessage, SystemMessage
from playwright.sync_api import expect

from chat.provider.demo import demo_reply
from tests.e2e.helpers import ASSISTANT, ChatTab, pump

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]


def newest_answer(tab: ChatTab) -> str:
    return tab.page.locator(ASSISTANT).last.get_attribute("data-id") or ""


def test_the_demo_continues_regenerates_switches_and_obeys(new_user: NewUser) -> None:
    tab = new_user()
    page = tab.page
    question = "How does streaming work?"
    first = tab.ask(question)
    tab.wait_text_length(first, 20)
    page.click("#stop-button")
    tab.finish(first, "stopped")
    conversation = tab.conversation_id()

    # Continue: the answer goes on where it stopped, with no trace of the hidden prompt.
    tab.bubble(first).locator(".branch-continue").click()
    expect(tab.bubble(first)).to_have_count(0)
    continued = newest_answer(tab)
    tab.finish(continued)
    whole = demo_reply([SystemMessage(""), HumanMessage(question)])
    assert tab.saved_message(conversation, continued)["content"] == whole
    expect(tab.message_text(continued)).not_to_contain_text("Continue your last answer")

    # Regenerate: another answer, not the same words again.
    tab.bubble(continued).locator(".branch-regenerate").click()
    expect(tab.bubble(continued)).to_have_count(0)
    regenerated = newest_answer(tab)
    tab.finish(regenerated)
    expect(tab.message_text(regenerated)).to_contain_text("This is try 3 at this answer.")
    assert tab.saved_message(conversation, regenerated)["content"] != whole

    # The picker offers a second offline model: it answers in Japanese.
    expect(page.locator("#model-select option")).to_have_count(2)
    page.select_option("#model-select", "demo-ja")
    pump(page, lambda: tab.conversation(conversation)["model"] == "demo-ja", "the model save")
    japanese = tab.ask("Hello")
    tab.finish(japanese)
    expect(tab.message_text(japanese)).to_contain_text("「Hello」とのことですね。")
    expect(tab.bubble(japanese).locator(".message-meta")).to_contain_text("demo-ja")

    # Instructions are obeyed: French, and brief.
    page.click("#instructions-button")
    page.fill("#settings-instructions", "Answer in French, and be brief.")
    page.locator("#settings-dialog .settings-save").click()
    expect(page.locator("#settings-dialog")).to_be_hidden()
    french = tab.ask("Bonjour")
    tab.finish(french)
    expect(tab.message_text(french)).to_contain_text("Vous avez dit : « Bonjour ».")
    content = tab.saved_message(conversation, french)["content"]
    assert len(content.splitlines()) == 2 and "Code de réponse" not in content
