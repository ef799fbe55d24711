"""Pinned and archived conversations in a real Chromium (issue #22): a pinned chat stays
on top after a reload, an archived one leaves the list for "Archived" (with Undo, and
the open one stays open), and Unarchive brings it back; another tab of the
conversation follows."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Page, expect

from tests.e2e.helpers import USER, ChatTab, wait_for_chat_page
from tests.e2e.servers import manage

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]

# Three chats with a message each: Alpha the newest, Charlie the oldest.
CREATE_CHATS = """
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from chat.models import Conversation, Message
owner = get_user_model().objects.get(username="{username}")
for age, title in enumerate(("Alpha", "Bravo", "Charlie")):
    c = Conversation.objects.create(owner=owner, title=title)
    Message.objects.create(conversation=c, role="user", content=f"About {{title}}")
    Conversation.objects.filter(pk=c.pk).update(updated=timezone.now() - timedelta(minutes=age))
"""

MARKS_JS = """async () => {
  const get = async (q) => (await (await fetch('/api/conversations/' + q,
    {headers: {Accept: 'application/json'}, credentials: 'same-origin'})).json()).conversations;
  const titles = (list) => list.map((c) => c.title + (c.pinned ? ' (pinned)' : ''));
  return {listed: titles(await get('')), archived: titles(await get('?archived=1'))};
}"""


def titles(page: Page):
    return page.locator("#conversation-list .conversation-open")


def section(page: Page, heading: str):
    return page.locator(
        "#conversation-list .conversation-group",
        has=page.get_by_role("heading", name=heading, exact=True),
    )


def test_pin_archive_and_unarchive_from_the_sidebar(new_user: NewUser, server_env: dict) -> None:
    username = f"e2e-{uuid.uuid4().hex[:10]}"
    tab = new_user(username=username)
    page = tab.page
    manage(server_env, "shell", "-c", CREATE_CHATS.format(username=username))
    page.reload()
    wait_for_chat_page(page)
    expect(titles(page)).to_have_text(["Alpha", "Bravo", "Charlie"])

    # Pin the oldest with the keyboard: Tab from its link reaches its Pin button.
    page.locator(".conversation-open", has_text="Charlie").focus()
    page.keyboard.press("Tab")
    pin = page.get_by_role("button", name="Pin “Charlie”")
    expect(pin).to_be_focused()
    expect(
        page.locator('.conversation-item:has-text("Charlie") .conversation-actions')
    ).to_have_css("opacity", "1")
    page.keyboard.press("Enter")
    expect(section(page, "Pinned").locator(".conversation-open")).to_have_text(["Charlie"])
    expect(titles(page)).to_have_text(["Charlie", "Alpha", "Bravo"])
    page.reload()
    wait_for_chat_page(page)
    expect(section(page, "Pinned").locator(".conversation-open")).to_have_text(["Charlie"])
    expect(titles(page)).to_have_text(["Charlie", "Alpha", "Bravo"])
    expect(page.get_by_role("button", name="Unpin “Charlie”")).to_have_count(1)

    # Archive the open one (a second tab of it follows): it stays open, with an Undo.
    page.locator(".conversation-open", has_text="Charlie").click()
    expect(page.locator(f"{USER} .message-text")).to_have_text("About Charlie")
    url = page.url
    other = tab.open_tab(url.removeprefix(tab.base_url))
    expect(section(other.page, "Pinned").locator(".conversation-open")).to_have_text(["Charlie"])
    page.locator('.conversation-item:has-text("Charlie")').hover()
    page.get_by_role("button", name="Archive “Charlie”").click()
    expect(titles(page)).to_have_text(["Alpha", "Bravo"])
    expect(page.locator(".toast")).to_contain_text("Archived “Charlie”.")
    assert page.url == url
    expect(page.locator("#conversation-title")).to_have_text("Charlie")
    expect(page.locator(f"{USER} .message-text")).to_have_text("About Charlie")
    expect(titles(other.page)).to_have_text(["Alpha", "Bravo"])  # its `conversation` frame
    page.locator(".toast").get_by_role("button", name="Undo").click()
    expect(section(page, "Pinned").locator(".conversation-open")).to_have_text(["Charlie"])
    expect(titles(other.page)).to_have_text(["Charlie", "Alpha", "Bravo"])

    # Archive another for good: it is under "Archived", where Unarchive brings it back.
    page.locator('.conversation-item:has-text("Bravo")').hover()
    # The sidebar drops it at once; the server has it once the PATCH is answered.
    with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
        page.get_by_role("button", name="Archive “Bravo”").click()
    assert patched.value.ok
    expect(titles(page)).to_have_text(["Charlie", "Alpha"])
    assert page.evaluate(MARKS_JS) == {
        "listed": ["Charlie (pinned)", "Alpha"],
        "archived": ["Bravo"],
    }
    page.locator("#list-archived").click()
    page.wait_for_url(f"{tab.base_url}/?archived=1")
    wait_for_chat_page(page)
    expect(section(page, "Archived").locator(".conversation-open")).to_have_text(["Bravo"])
    expect(page.get_by_role("button", name="Pin “Bravo”")).to_have_count(0)
    page.locator('.conversation-item:has-text("Bravo")').hover()
    page.get_by_role("button", name="Unarchive “Bravo”").click()
    expect(titles(page)).to_have_count(0)
    expect(page.locator("#conversation-empty")).to_have_text("No archived conversations.")
    page.locator("#list-archived").click()  # "Your chats"
    page.wait_for_url(f"{tab.base_url}/")
    wait_for_chat_page(page)
    expect(titles(page)).to_have_text(["Charlie", "Alpha", "Bravo"])
    expect(page.locator("#list-archived")).to_have_text(re.compile("^Archived$"))
