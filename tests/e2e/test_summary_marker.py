"""A long conversation's summary in a real Chromium (issue #25): on a server of its own
with a small history budget (summaries on, as in production; the demo model writes
them), echoed messages overflow it; once the summary is stored the page shows the quiet
marker without a reload (it looks again shortly after an answer while the oldest are
cut), which opens the summary's dialog; an edit is saved (a reload shows it) and Clear
removes it (the marker then says the oldest are left out). The context meter shows its
numbers (in Japanese too), and on a phone the toolbar still fits the screen; a summary
whose model fails leaves the marker saying the oldest are left out."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Page, expect

from tests.e2e.helpers import ChatTab, pump
from tests.e2e.servers import Server, another_server, free_port
from tests.e2e.test_layout import PHONE, _controls

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]
BUDGET = 600
LONG = "/echo " + "The quick brown fox jumps over the lazy dog. " * 5  # about 230 characters

SUMMARY_JS = """async (id) => {
  const res = await fetch(`/api/conversations/${id}/summary/`, {credentials: 'same-origin'});
  return res.json();
}"""


@pytest.fixture(scope="module")
def small_budget(server_env: dict) -> Iterator[Server]:
    """A server whose history budget a few echoed messages overflow."""
    env = {"CHAT_HISTORY_CHAR_BUDGET": str(BUDGET), "CHAT_SUMMARIES": "1"}
    with another_server("server-small-budget", server_env, **env) as server:
        yield server


@pytest.fixture(scope="module")
def failing_summaries(server_env: dict) -> Iterator[Server]:
    """A small budget again, and summaries written by a model nobody answers for (a
    closed port): every summary fails; answers come from the demo model."""
    broken = [{"name": "broken", "base_url": f"http://127.0.0.1:{free_port()}/v1", "api_key": "x"}]
    env = {
        "CHAT_HISTORY_CHAR_BUDGET": str(BUDGET),
        "CHAT_SUMMARIES": "1",
        "LLM_MODELS": json.dumps(broken),
        "LLM_SUMMARY_MODEL": "broken",
        "LLM_MAX_RETRIES": "0",
    }
    with another_server("server-failing-summaries", server_env, **env) as server:
        yield server


def summary_of(page: Page, conversation_id: str) -> dict[str, Any]:
    return page.evaluate(SUMMARY_JS, conversation_id)


def overflow(tab: ChatTab) -> str:
    """Echo long messages until a summary of the oldest is stored; the conversation."""
    for _ in range(3):
        tab.finish(tab.ask(LONG))
    conversation = tab.conversation_id()
    pump(
        tab.page,
        lambda: (summary_of(tab.page, conversation)["summary"] or {}).get("status") == "ready",
        "the summary to be written",
        timeout=30,
    )
    return conversation


def test_the_marker_opens_the_summary_which_is_edited_and_cleared(
    new_user: NewUser, small_budget: Server
) -> None:
    tab = new_user(base_url=small_budget.url)
    page = tab.page
    meter = page.locator("#context-meter")
    marker = page.locator("#summary-marker")
    tab.finish(tab.ask("/echo Short."))
    expect(meter).to_be_visible()
    expect(meter).to_contain_text(f"of {BUDGET} characters of context")
    expect(marker).to_be_hidden()  # everything fits

    conversation = overflow(tab)
    # Without a reload: the page looks again after an answer while the oldest are cut.
    button = page.locator("#summary-marker-button")
    expect(button).to_have_text("Earlier messages are summarised for the model", timeout=20_000)
    used = summary_of(page, conversation)["context"]["used"]
    expect(meter).to_have_text(f"{used:,} of {BUDGET} characters of context")

    button.click()
    dialog = page.locator("#summary-dialog")
    expect(dialog).to_be_visible()
    text = page.locator("#summary-text")
    saved = summary_of(page, conversation)["summary"]["text"]
    expect(text).to_have_value(saved)
    text.fill("The user echoed a sentence about a fox, three times.")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("#summary-status")).to_contain_text("Summary saved")
    expect(page.locator("#summary-edited")).to_be_visible()
    page.keyboard.press("Escape")

    page.reload()
    tab.wait_connected()
    page.locator("#summary-marker-button").click()
    expect(page.locator("#summary-text")).to_have_value(
        "The user echoed a sentence about a fox, three times."
    )
    dialog.get_by_role("button", name="Clear", exact=True).click()
    expect(page.locator("#summary-confirm")).to_be_visible()
    page.locator("#summary-clear-yes").click()
    expect(dialog).to_be_hidden()
    expect(marker).to_have_text("The oldest messages are left out for the model")
    expect(page.locator("#summary-marker-button")).to_be_hidden()
    assert summary_of(page, conversation)["summary"]["status"] == "cleared"


def test_on_a_phone_the_marker_and_meter_keep_the_toolbar_in_the_screen(
    new_user: NewUser, small_budget: Server
) -> None:
    tab = new_user(base_url=small_budget.url, **PHONE)
    page = tab.page
    overflow(tab)
    page.reload()
    tab.wait_connected()
    expect(page.locator("#summary-marker-button")).to_be_visible()
    expect(page.locator("#context-meter")).to_be_visible()
    width = PHONE["viewport"]["width"]
    for scope in (".chat-toolbar", ".composer-bar", "#summary-marker"):
        outside = [n for n, box in _controls(page, scope) if box["x"] + box["width"] > width + 0.5]
        assert not outside, f"{scope}: past the screen's edge: {outside}"
    # A message near its length limit: the hint has the composer's bar to itself.
    limit = page.evaluate(
        "JSON.parse(document.getElementById('chat-config').textContent).max_message_chars"
    )
    page.fill("#message-input", "x" * (limit - 10))
    expect(page.locator("#composer-hint")).not_to_be_empty()
    expect(page.locator("#context-meter")).to_be_hidden()
    page.fill("#message-input", "")
    expect(page.locator("#context-meter")).to_be_visible()


def test_a_failed_summary_says_the_oldest_are_left_out(
    new_user: NewUser, failing_summaries: Server
) -> None:
    tab = new_user(base_url=failing_summaries.url)
    page = tab.page
    page.select_option("#model-select", "demo-offline")  # the new chat's model
    for _ in range(3):
        tab.finish(tab.ask(LONG))
    conversation = tab.conversation_id()
    pump(
        page,
        lambda: (summary_of(page, conversation)["summary"] or {}).get("status") == "failed",
        "the summary to fail",
        timeout=30,
    )
    marker = page.locator("#summary-marker")
    failed = "Earlier messages could not be summarised: the oldest are left out"
    expect(marker).to_have_attribute("data-state", "failed", timeout=20_000)
    expect(page.locator("#summary-marker-button")).to_have_text(failed)
    expect(page.locator("#context-meter")).to_have_attribute("data-state", "full")


def test_in_japanese_the_meter_and_the_marker_are_translated(
    new_user: NewUser, small_budget: Server
) -> None:
    tab = new_user(base_url=small_budget.url, locale="ja-JP")
    page = tab.page
    overflow(tab)
    expect(page.locator("#summary-marker-button")).to_have_text(
        "以前のメッセージはモデル向けに要約されています", timeout=20_000
    )
    expect(page.locator("#context-meter .context-meter-text")).to_have_text(
        re.compile(r"^コンテキスト \d+ / 600 文字$")
    )
    page.locator("#summary-marker-button").click()
    expect(page.locator("#summary-title")).to_have_text("これまでのメッセージの要約")
