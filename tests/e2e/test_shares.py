"""Share links in a real Chromium (issue #24): the owner shares a conversation with two
versions of an answer from the chat page's Share dialog; a visitor who is signed out
(the e2e servers allow public links: conftest's ALLOW_PUBLIC_SHARES) opens the link and
reads the snapshot rendered as the chat page renders it, switches between the versions,
and after the owner revokes it finds the link closed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Browser, expect

from tests.e2e.helpers import ASSISTANT, ChatTab
from tests.e2e.test_layout import PHONE, _controls

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]
CODE = "/echo Here it is:\n\n```python\nprint('shared')\n```"


def test_share_a_conversation_and_open_it_signed_out(new_user: NewUser, browser: Browser) -> None:
    tab = new_user()
    page = tab.page
    first = tab.ask("Tell me about Kyoto.")
    tab.finish(first)
    first_text = tab.message_text(first).inner_text()
    tab.bubble(first).locator(".branch-regenerate").click()
    expect(tab.bubble(first)).to_have_count(0)
    second = page.locator(ASSISTANT).first.get_attribute("data-id") or ""
    tab.finish(second)
    second_text = tab.message_text(second).inner_text()
    assert second_text != first_text
    tab.finish(tab.ask(CODE))

    # The Share dialog: the whole conversation, never expiring; the link is listed.
    page.click("#share-button")
    dialog = page.locator("#share-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".share-empty")).to_have_text("No links yet.")
    dialog.get_by_label("The whole conversation, with its other versions").check()
    dialog.get_by_label("Expires").select_option("never")
    dialog.get_by_role("button", name="Create link").click()
    expect(dialog.locator("#share-status")).to_contain_text("Link created")
    row = dialog.locator(".share-item").first
    expect(row.locator(".share-info")).to_have_text("whole conversation · no expiry · 0 views")
    url = row.locator(".share-url").input_value()
    assert url.startswith(f"{tab.base_url}/s/")
    page.keyboard.press("Escape")

    # Signed out: the snapshot, rendered (code coloured), not indexed, nothing else.
    visitor = browser.new_context(viewport={"width": 1000, "height": 800})
    try:
        shared = visitor.new_page()
        response = shared.goto(url)
        assert response is not None and response.status == 200
        assert response.headers["x-robots-tag"].startswith("noindex")
        messages = shared.locator("#shared-messages")
        expect(messages).to_have_attribute("data-ready", "true")
        robots = shared.locator("meta[name=robots]")
        expect(robots).to_have_attribute("content", "noindex, nofollow")
        expect(shared.locator(".message")).to_have_count(4)
        expect(messages).to_contain_text(second_text)
        expect(messages.locator(".code-block pre code.hljs")).to_contain_text("print('shared')")
        expect(shared.locator(".username")).to_have_count(0)  # nobody is signed in here
        assert tab.conversation_id() not in shared.content()

        # "‹ 2/2 ›" on the regenerated answer: the first version, and its branch alone.
        answer = shared.locator('.message[data-role="assistant"]').first
        expect(answer.locator(".branch-position")).to_have_text("2/2")
        answer.get_by_role("button", name="Previous version").click()
        expect(shared.locator(".message")).to_have_count(2)
        expect(shared.locator('.message[data-role="assistant"]').first).to_contain_text(first_text)
        expect(shared.locator(".branch-position")).to_have_text("1/2")

        # The owner sees the view counted, revokes the link: the page is closed.
        page.click("#share-button")
        expect(row.locator(".share-info")).to_have_text("whole conversation · no expiry · 1 view")
        row.get_by_role("button", name="Revoke").click()
        expect(dialog.locator("#share-status")).to_contain_text("Link revoked")
        expect(dialog.locator(".share-item").first).to_have_attribute("data-state", "revoked")
        gone = shared.goto(url)
        assert gone is not None and gone.status == 410
        expect(shared.locator("h1")).to_have_text("This link was revoked")
    finally:
        visitor.close()


def test_the_share_button_and_dialog_fit_a_phone(new_user: NewUser) -> None:
    """At 390x844 the Share button is one more toolbar icon: every toolbar control still
    fits in the width, and the dialog with a link in it stays on the screen."""
    tab = new_user(**PHONE)
    page = tab.page
    tab.finish(tab.ask("Hello from a phone"))
    width = page.evaluate("innerWidth")
    share = page.locator("#share-button")
    expect(share).to_be_enabled()
    outside = [
        name
        for name, box in _controls(page, ".chat-toolbar")
        if box["x"] < 0 or box["x"] + box["width"] > width
    ]
    assert not outside, f"toolbar controls past the screen's edge: {outside}"
    share.click()
    page.locator("#share-dialog").get_by_role("button", name="Create link").click()
    expect(page.locator("#share-list .share-item")).to_have_count(1)
    box = page.locator("#share-dialog").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    outside = [
        name
        for name, control in _controls(page, "#share-dialog")
        if control["x"] < 0 or control["x"] + control["width"] > width
    ]
    assert not outside, f"dialog controls past the screen's edge: {outside}"


def test_the_share_dialog_downloads_the_conversation(new_user: NewUser) -> None:
    """The dialog's two links download the open conversation: JSON with every version,
    Markdown with the branch shown (the same files as GET …/export/)."""
    tab = new_user()
    page = tab.page
    first = tab.ask("Tell me about Nara.")
    tab.finish(first)
    tab.bubble(first).locator(".branch-regenerate").click()
    expect(tab.bubble(first)).to_have_count(0)
    second = page.locator(ASSISTANT).first.get_attribute("data-id") or ""
    tab.finish(second)
    shown = tab.message_text(second).inner_text()
    page.click("#share-button")
    dialog = page.locator("#share-dialog")
    with page.expect_download() as markdown:
        dialog.get_by_role("link", name="Markdown (the branch shown)").click()
    text = Path(markdown.value.path()).read_text()
    assert markdown.value.suggested_filename.endswith(".md")
    assert "Tell me about Nara." in text and shown.split("\n")[0] in text
    with page.expect_download() as whole:
        dialog.get_by_role("link", name="JSON (every version)").click()
    exported = json.loads(Path(whole.value.path()).read_text())
    (conversation,) = exported["conversations"]
    answers = [m for m in conversation["messages"] if m["role"] == "assistant"]
    assert {m["id"] for m in answers} >= {first, second}
