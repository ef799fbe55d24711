"""A newcomer's first ten minutes, walked in a real Chromium (issue #22, "Done means"):
sign up, chat with the demo model, regenerate and see another answer, set instructions
and see them obeyed, switch to the second model, open the chat in a new tab by its
sidebar link, and read an answer aloud.

Everything is done through the page, as a user does it (the JSON API is only read, to
compare with the database's truth). Headless Chromium has no voices, so an init script
replaces window.speechSynthesis with one that records what it is asked to say."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import BrowserContext, expect

from tests.e2e.helpers import (
    ASSISTANT,
    USER,
    ChatTab,
    grew_while_streaming,
    sign_up,
    wait_for_chat_page,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.e2e.servers import Server

pytestmark = pytest.mark.e2e

# The browser's speech API, recording each utterance's text in window.__spoken.
RECORDING_SPEECH = """() => {
  window.__spoken = [];
  window.SpeechSynthesisUtterance = class {
    constructor(text) { Object.assign(this, { text, lang: '', rate: 1, voice: null }); }
  };
  Object.defineProperty(window, 'speechSynthesis', { configurable: true, value: {
    speak(u) { window.__spoken.push(u.text); },
    cancel() {}, pause() {}, resume() {},
    getVoices() { return []; },
    speaking: false, pending: false,
    addEventListener() {}, removeEventListener() {},
  }});
}"""

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
FRENCH_SAID = "Vous avez dit : « "  # the demo's French answers start so (demo_words.FRAMES)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser (no cookies) whose pages all have the recording speech API."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(15_000)
    context.add_init_script(f"({RECORDING_SPEECH})()")
    yield context
    context.close()


def newest_answer(tab: ChatTab) -> str:
    """The id of the last assistant bubble, once it has one."""
    return tab.answer_id(tab.page.locator(ASSISTANT).count() - 1)


def set_instructions(tab: ChatTab, text: str) -> None:
    """Open the Instructions dialog, type `text` (replacing what was there), save."""
    tab.page.click("#instructions-button")
    tab.page.fill("#settings-instructions", text)
    tab.page.locator("#settings-dialog .settings-save").click()
    expect(tab.page.locator("#settings-dialog")).to_be_hidden()


def test_a_newcomers_first_ten_minutes(context: BrowserContext, server: Server) -> None:
    tab = ChatTab(context.new_page(), server.url)
    page = tab.page

    # 1. Sign up through the form: it lands on the chat, signed in, ready to type.
    username = sign_up(page, tab.base_url)
    assert page.url == f"{tab.base_url}/"
    expect(page.locator(".user-menu .username")).to_have_text(username)
    expect(page.locator("#conversation-title")).to_have_text("New chat")
    expect(page.locator("#message-input")).to_be_editable()
    expect(page.locator("#model-select")).to_have_value("demo-offline")

    # 2. A first message: the demo's answer streams in, grows, and completes.
    question = "How does streaming work?"
    first = tab.ask(question)
    conversation = tab.conversation_id()
    expect(page.locator(f"{USER} .message-text")).to_have_text([question])
    tab.finish(first)
    assert grew_while_streaming(tab.streaming_lengths(first)), tab.streaming_lengths(first)
    first_text = tab.message_text(first).inner_text()
    assert first_text.startswith(f'You said: "{question}"'), first_text
    expect(page.locator("#conversation-list .conversation-item")).to_have_count(1)

    # 3. Regenerate: a second version of the answer, in other words than the first.
    tab.bubble(first).locator(".branch-regenerate").click()
    expect(tab.bubble(first)).to_have_count(0)
    second = newest_answer(tab)
    assert second != first
    tab.finish(second)
    expect(tab.bubble(second).locator(".branch-position")).to_have_text("2/2")
    second_text = tab.message_text(second).inner_text()
    assert second_text != first_text, second_text
    assert "This is try 2 at this answer." in second_text, second_text

    # 4. Instructions "Answer in French." in the Instructions dialog: the next answer is.
    set_instructions(tab, "Answer in French.")
    expect(page.locator("#instructions-button")).to_have_class(re.compile(r"has-instructions"))
    french = tab.ask("What can you do?")
    tab.finish(french)
    expect(tab.message_text(french)).to_contain_text(f"{FRENCH_SAID}What can you do? »")
    expect(tab.message_text(french)).to_contain_text("Code de réponse")

    # 5. The second model, chosen in the picker (instructions cleared, as they name a
    # language): it answers in Japanese, and the answer says which model wrote it.
    set_instructions(tab, "")
    expect(page.locator("#instructions-button")).not_to_have_class(re.compile(r"has-instr"))
    expect(page.locator("#model-select option")).to_have_count(2)
    page.select_option("#model-select", "demo-ja")
    expect(page.locator("#model-select")).to_have_value("demo-ja")
    japanese = tab.ask("Hello")
    tab.finish(japanese)
    expect(tab.message_text(japanese)).to_contain_text("「Hello」とのことですね。")
    japanese_text = tab.message_text(japanese).inner_text()
    assert len(JAPANESE.findall(japanese_text)) > 20, japanese_text
    assert FRENCH_SAID.strip() not in japanese_text
    expect(tab.bubble(japanese).locator(".message-meta")).to_contain_text("demo-ja")
    expect(tab.bubble(french).locator(".message-meta")).to_contain_text("demo-offline")

    # 6. The chat's sidebar link, ctrl+clicked: a new tab opens the conversation at its
    # own URL, with all its messages (the current versions), and this tab stays put.
    link = page.locator(
        f'#conversation-list .conversation-item[data-id="{conversation}"] a.conversation-open'
    )
    expect(link).to_have_attribute("href", f"/c/{conversation}/")
    with context.expect_page() as opened:
        link.click(modifiers=["Control"])
    other = ChatTab(opened.value, tab.base_url)
    other.page.wait_for_url(f"{tab.base_url}/c/{conversation}/")
    wait_for_chat_page(other.page)
    expect(other.page.locator(f"{USER} .message-text")).to_have_text(
        [question, "What can you do?", "Hello"]
    )
    expect(other.page.locator(ASSISTANT)).to_have_count(3)
    for answer, text in ((second, second_text), (japanese, japanese_text)):
        expect(other.message_text(answer)).to_have_text(text)
    expect(other.bubble(french)).to_contain_text(FRENCH_SAID)
    expect(other.page.locator("#model-select")).to_have_value("demo-ja")
    assert page.url == f"{tab.base_url}/c/{conversation}/"

    # 7. Read aloud, in the new tab, on the Japanese answer: the browser is asked to say
    # that answer's text, every word of it, one sentence at a time.
    read = other.bubble(japanese).locator(".read-aloud-button")
    expect(read).to_have_accessible_name("Read this answer aloud")
    read.click()
    expect(read).to_have_attribute("aria-pressed", "true")
    spoken: list[str] = other.page.evaluate("window.__spoken")
    assert len(spoken) > 1, spoken
    saved = tab.saved_message(conversation, japanese)["content"]
    assert "".join("".join(spoken).split()) == "".join(saved.split()), (spoken, saved)
