"""The day's token budget in a real Chromium (issue #22): the sidebar's meter rises as
answers end, says when the budget is spent and when it renews (in the browser's time
zone), and the refusal names the renewal; without a budget nothing is shown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from chat.conversations import quotas
from tests.e2e.helpers import ChatTab
from tests.e2e.servers import Server, another_server

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]
BUDGET = 2500
# About 1,000 tokens of question for the demo model (a quarter of the characters): the
# first answer uses part of the budget, the second (its history too) the rest.
LONG_QUESTION = "word " * 780

USAGE_JS = """async () => {
  const res = await fetch('/api/usage/', {headers: {Accept: 'application/json'}});
  return res.json();
}"""


@pytest.fixture(scope="module")
def budget_server(server_env: dict) -> Iterator[Server]:
    """A server whose users may use BUDGET tokens a day."""
    with another_server("server-budget", server_env, CHAT_DAILY_TOKEN_BUDGET=str(BUDGET)) as server:
        yield server


def usage(tab: ChatTab) -> dict[str, Any]:
    return tab.page.evaluate(USAGE_JS)


def test_the_meter_rises_as_answers_end_and_the_refusal_names_the_renewal(
    new_user: NewUser, budget_server: Server
) -> None:
    """In Tokyo (UTC+9) the budget renews at 9:00 AM (en-US): the meter starts at 0, shows the
    server's figures (en-US digits) after each answer, says the budget is spent once it
    is, and a message sent then is refused with the renewal time and the wait."""
    tab = new_user(base_url=budget_server.url, timezone_id="Asia/Tokyo")
    meter = tab.page.locator("#usage-meter")
    text = meter.locator(".usage-text")
    expect(text).to_have_text(f"0 of {BUDGET:,} tokens today")
    assert "renews at 9:00 AM (00:00 UTC), in " in (meter.get_attribute("title") or "")
    used = 0
    for _ in range(4):
        tab.finish(tab.ask(LONG_QUESTION))
        now = usage(tab)
        assert now["tokens_today"] > used  # every answer is charged
        used = now["tokens_today"]
        if used >= BUDGET:
            break
        expect(text).to_have_text(f"{used:,} of {BUDGET:,} tokens today")  # it rose
        expect(meter).to_have_attribute("data-state", "ok" if used < 0.8 * BUDGET else "low")
    assert used >= BUDGET, "the budget was never spent"
    expect(meter).to_have_attribute("data-state", "spent")
    expect(text).to_have_text(f"Today's {BUDGET:,} tokens are used. Renews at 9:00 AM.")

    tab.send("one more, please")
    notice = tab.page.locator(".error-notice-text")
    expect(notice).to_contain_text(f"You have used today's budget of {BUDGET:,} tokens.")
    expect(notice).to_contain_text("It renews at 00:00 UTC (in ")
    errors = tab.frames.sockets[-1].of_type("error")
    assert errors and errors[-1]["code"] == "quota_exceeded"
    assert errors[-1]["resets_at"] == usage(tab)["resets_at"]


def test_no_budget_no_meter(new_user: NewUser) -> None:
    """The session's server sets no budget: the meter stays hidden after it asked."""
    tab = new_user()
    assert usage(tab)["budget"] is None
    tab.page.wait_for_function("() => window.ChatUsage")
    tab.page.evaluate("() => window.ChatUsage.refresh()")
    expect(tab.page.locator("#usage-meter")).to_be_hidden()


WAITS = [0, 59, 60, 61, 2700, 3599, 3600, 11_520, 11_461, 86_400]  # seconds


def test_no_budget_no_meter_and_the_page_words_a_wait_as_the_server_does(
    new_user: NewUser,
) -> None:
    """The session's server sets no budget: the meter stays hidden after it asked.
    usage.js's tooltip and the refusal say a wait in the same words."""
    tab = new_user()
    assert usage(tab)["budget"] is None
    tab.page.wait_for_function("() => window.ChatUsage")
    tab.page.evaluate("() => window.ChatUsage.refresh()")
    expect(tab.page.locator("#usage-meter")).to_be_hidden()
    words = tab.page.evaluate(
        "(waits) => waits.map((s) => window.ChatUsage.waitWords(s * 1000))", WAITS
    )
    assert words == [quotas.wait_words(s) for s in WAITS]
