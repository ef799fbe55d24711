"""A temporary chat in a real Chromium (issue #24): chosen before the first message,
never in the sidebar, and saying so (when it goes, and that staff can review it)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import ChatTab

pytestmark = pytest.mark.e2e


def test_a_temporary_chat_is_not_listed_and_says_when_it_goes(
    new_user: Callable[..., ChatTab],
) -> None:
    tab = new_user()
    page = tab.page
    kept = tab.ask("A chat that is kept")
    tab.finish(kept)
    expect(page.locator("#conversation-list .conversation-item")).to_have_count(1)

    page.click("#new-chat")
    toggle = page.locator("#temporary-button")
    expect(toggle).to_be_enabled()
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    note = page.locator("#temporary-note")
    expect(note).to_contain_text("Temporary chat")
    answer = tab.ask("A chat that is not kept")
    conversation = tab.conversation_id()
    tab.finish(answer)
    expect(note).to_contain_text(re.compile(r"deleted (today|\S+) at "))  # in 24 h
    expect(note).to_contain_text("Staff can review it")
    expect(toggle).to_be_disabled()  # a saved chat stays what it was made
    saved = tab.conversation(conversation)
    assert saved["temporary"] is True
    expect(page.locator("#conversation-list .conversation-item")).to_have_count(1)

    page.reload()  # its address still opens it while it lasts
    tab.wait_connected()
    expect(note).to_be_visible()
    expect(page.locator("#conversation-list .conversation-item")).to_have_count(1)
    page.click("#new-chat")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(note).to_be_hidden()
