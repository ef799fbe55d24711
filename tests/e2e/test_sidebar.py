"""The sidebar and "New chat" in a real Chromium (issue #22, items 3 and 4): a new chat
is saved by its first message, never by the click; each entry is a link to the
conversation's own URL that shows as much of the title as the sidebar holds."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import USER, ChatTab, wait_for_chat_page
from tests.e2e.servers import manage

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]

# Every conversation of the user, empty ones included (the page lists only started ones).
ALL_CONVERSATIONS_JS = """async () => (await (await fetch('/api/conversations/',
  {headers: {Accept: 'application/json'}, credentials: 'same-origin'})).json()).conversations"""

LATIN = "Planning a long weekend walking trip through the Scottish Highlands"
JAPANESE = "来週の京都旅行で訪れるべきお寺と美味しいお店"

# Two conversations with long titles and a message each, for the user named.
CREATE_TITLED = """
from django.contrib.auth import get_user_model
from chat.models import Conversation, Message
owner = get_user_model().objects.get(username="{username}")
for title in ({latin!r}, {japanese!r}):
    c = Conversation.objects.create(owner=owner, title=title)
    Message.objects.create(conversation=c, role="user", content=title)
"""

# How many characters of an entry's title are drawn whole before its right padding
# (the rest is cut off, behind the ellipsis).
SHOWN_CHARS_JS = """(link) => {
  const text = link.firstChild;
  const padding = parseFloat(getComputedStyle(link).paddingRight);
  const right = link.getBoundingClientRect().right - padding;
  const range = document.createRange();
  let shown = 0;
  for (let i = 0; i < text.length; i += 1) {
    range.setStart(text, i);
    range.setEnd(text, i + 1);
    if (range.getBoundingClientRect().right > right) break;
    shown = i + 1;
  }
  return shown;
}"""

WIDTHS_JS = """(link) => [link.getBoundingClientRect().width,
  link.closest('.conversation-item').getBoundingClientRect().width]"""


def all_conversations(tab: ChatTab) -> list[dict[str, Any]]:
    return tab.page.evaluate(ALL_CONVERSATIONS_JS)


def entry(tab: ChatTab, title: str):
    return tab.page.locator("#conversation-list .conversation-open", has_text=title[:20])


def test_new_chat_saves_nothing_until_the_first_message(new_user: NewUser) -> None:
    """Three clicks on "New chat" make no conversation and open no socket; a model and
    instructions chosen in the new chat are no request either; the first message creates
    the conversation, with them, and lists it."""
    tab = new_user()
    page = tab.page
    for _ in range(3):
        page.click("#new-chat")
        expect(page.locator("#conversation-title")).to_have_text("New chat")
        expect(page.locator("#message-input")).to_be_focused()
    page.wait_for_url(f"{tab.base_url}/")
    assert all_conversations(tab) == []
    assert tab.frames.sockets == []
    expect(page.locator("#conversation-list .conversation-item")).to_have_count(0)

    # Settings chosen before the first message are kept in the page, then saved with it.
    expect(page.locator("#model-select")).to_be_enabled()
    page.locator("#model-select").select_option("demo-offline")  # by name, not "the default"
    page.click("#instructions-button")
    page.fill("#settings-instructions", "Answer in one short sentence.")
    page.locator("#settings-dialog .settings-save").click()
    expect(page.locator("#settings-dialog")).to_be_hidden()
    expect(page.locator("#instructions-button")).to_have_class(re.compile(r"has-instructions"))
    assert all_conversations(tab) == []

    answer = tab.ask("The first message makes the chat")
    conversation = tab.conversation_id()
    (saved,) = all_conversations(tab)
    assert saved["id"] == conversation
    expect(page.locator("#conversation-list .conversation-item")).to_have_count(1)
    tab.finish(answer)
    saved = tab.conversation(conversation)
    assert (saved["model"], saved["instructions"]) == (
        "demo-offline",
        "Answer in one short sentence.",
    )

    page.click("#new-chat")  # a fresh new chat, with the default settings
    page.wait_for_url(f"{tab.base_url}/")
    expect(page.locator("#messages .message")).to_have_count(0)
    expect(page.locator("#instructions-button")).not_to_have_class(re.compile(r"has-instr"))
    assert len(all_conversations(tab)) == 1


def test_sidebar_entries_show_long_titles_and_are_links(
    new_user: NewUser, server_env: dict
) -> None:
    """Long Latin and Japanese titles use the sidebar's width (more than 12 and 6
    characters drawn) with the full title as tooltip; each entry is a link to the
    conversation's URL: a plain click opens it in the page (back and reload keep up), a
    middle click opens it in a new tab, and the URL loaded alone opens it."""
    username = f"e2e-{uuid.uuid4().hex[:10]}"
    tab = new_user(username=username)
    page = tab.page
    manage(
        server_env,
        "shell",
        "-c",
        CREATE_TITLED.format(username=username, latin=LATIN, japanese=JAPANESE),
    )
    page.reload()
    wait_for_chat_page(page)
    page.mouse.move(640, 400)  # over the messages, not an entry
    latin, japanese = entry(tab, LATIN), entry(tab, JAPANESE)
    for link, title, at_least in ((latin, LATIN, 13), (japanese, JAPANESE, 7)):
        expect(link).to_have_attribute("title", title)
        # The whole width of its row (the rename and delete buttons float over it on hover).
        width, row = link.evaluate(WIDTHS_JS)
        assert width >= row - 1, f"the title has {width} px of its row's {row} px"
        shown = link.evaluate(SHOWN_CHARS_JS)
        assert shown >= at_least, f"{shown} characters of {title!r} shown"
        expect(link).to_have_attribute("href", re.compile(r"^/c/[0-9a-f-]{36}/$"))

    href = latin.get_attribute("href") or ""
    latin_id = href.split("/")[2]
    japanese_id = (japanese.get_attribute("href") or "").split("/")[2]

    # A plain click opens it in this page: no reload, and the URL is its own.
    page.evaluate("window.__samePage = true")
    latin.click()
    page.wait_for_url(f"{tab.base_url}{href}")
    expect(page.locator(USER)).to_have_text(re.compile(re.escape(LATIN)))
    expect(page.locator("#conversation-title")).to_have_text(LATIN)
    japanese.click()
    page.wait_for_url(f"{tab.base_url}/c/{japanese_id}/")
    expect(page.locator("#conversation-title")).to_have_text(JAPANESE)
    assert page.evaluate("window.__samePage") is True
    page.go_back()
    page.wait_for_url(f"{tab.base_url}{href}")
    expect(page.locator("#conversation-title")).to_have_text(LATIN)
    page.reload()
    wait_for_chat_page(page)
    expect(page.locator("#conversation-title")).to_have_text(LATIN)
    expect(page.locator(USER)).to_have_text(re.compile(re.escape(LATIN)))
    expect(page.locator(f'.conversation-item.active[data-id="{latin_id}"]')).to_have_count(1)

    # A middle click opens a new tab on that conversation; this page stays where it is.
    with page.context.expect_page() as opened:
        japanese.click(button="middle")
    new_tab = opened.value
    new_tab.wait_for_url(f"{tab.base_url}/c/{japanese_id}/")
    expect(new_tab.locator("#conversation-title")).to_have_text(JAPANESE)
    assert page.url == f"{tab.base_url}{href}"

    # The link alone (copied, pasted into a fresh page) opens the conversation.
    fresh = page.context.new_page()
    fresh.goto(f"{tab.base_url}{href}")
    expect(fresh.locator("#conversation-title")).to_have_text(LATIN)
    expect(fresh.locator(USER)).to_have_text(re.compile(re.escape(LATIN)))


def test_new_chat_on_a_phone_closes_the_drawer(new_user: NewUser) -> None:
    """On a phone "New chat" is in the drawer: it closes the drawer and focuses the empty
    composer, with nothing saved; the entries' buttons sit beside the title (no hover)."""
    tab = new_user(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = tab.page
    tab.finish(tab.ask("/echo one conversation to list"))
    toggle = page.locator("#sidebar-toggle")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#conversation-list .conversation-actions")).to_have_css("opacity", "1")
    page.click("#new-chat")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    page.wait_for_url(f"{tab.base_url}/")
    expect(page.locator("#message-input")).to_be_focused()
    assert len(all_conversations(tab)) == 1
