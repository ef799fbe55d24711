"""Conversation search in a real Chromium: the sidebar box, highlighted matches, the jump."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import USER, ChatTab
from tests.e2e.servers import Server, another_server

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]


@pytest.fixture(scope="module")
def small_pages(server_env: dict) -> Iterator[Server]:
    """A server whose history frame holds 4 messages: an older one needs `load_older`."""
    with another_server("server-small-pages", server_env, CHAT_HISTORY_PAGE="4") as server:
        yield server


FIRST = 'Where do zebrafish live? 🎉 <img src=x onerror="window.__xss = 1">'
# Forty paragraphs: the first question is far above the fold once they are in.
LONG = "/echo " + "\n\n".join(f"para{i}" for i in range(40))


def test_search_highlights_and_jumps_to_the_message(new_user: NewUser, small_pages: Server) -> None:
    """Two conversations; a word of the first, typed in the sidebar, is highlighted in
    the results (markup in the message stays text); clicking it opens that conversation
    with the message scrolled into view, though it is older than the first history page;
    Escape brings the list back."""
    tab = new_user(base_url=small_pages.url)
    page = tab.page
    tab.finish(tab.ask(FIRST))
    first_conversation = tab.conversation_id()
    question = page.locator(USER).first
    expect(question).to_have_attribute("data-id", re.compile(r".+"))
    question_id = question.get_attribute("data-id")
    tab.finish(tab.ask(LONG))
    tab.finish(tab.ask("/echo the end"))  # six messages: the question is on page two
    page.click("#new-chat")
    page.wait_for_url(f"{tab.base_url}/")
    tab.finish(tab.ask("Something else entirely"))
    page.wait_for_url(re.compile(r"/c/(?!" + first_conversation + r")[^/]+/$"))

    page.fill("#search-input", "zebraf")
    hit = page.locator(f'#search-hits a[data-message-id="{question_id}"]')
    expect(hit.locator("mark")).to_have_text("zebraf")
    expect(hit).to_contain_text('<img src=x onerror="window.__xss = 1">')
    assert page.locator("#search-results img").count() == 0
    assert page.evaluate("window.__xss") is None
    expect(page.locator("#conversation-list")).to_be_hidden()

    hit.click()
    page.wait_for_url(re.compile(rf"/c/{first_conversation}/"))
    target = tab.bubble(question_id or "")
    expect(target).to_have_class(re.compile(r"\bsearch-target\b"))
    expect(target).to_be_in_viewport()
    assert any(f.get("type") == "load_older" for f in tab.frames.sockets[-1].sent)
    expect(tab.bubble(question_id or "").locator(".message-text")).to_contain_text("<img src=x")

    page.press("#search-input", "Escape")
    expect(page.locator("#search-results")).to_be_hidden()
    expect(page.locator("#conversation-list")).to_be_visible()
