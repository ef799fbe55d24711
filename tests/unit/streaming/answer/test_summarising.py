"""When an ended answer hands its conversation to the summary check (summarising.py),
and the prompt a summary is written from. No database: nothing here reaches it."""

from __future__ import annotations

import asyncio

import pytest

from chat.conversations.summaries import Due
from chat.streaming.answer import summarising


@pytest.mark.parametrize(
    ("enabled", "user_id", "held"),
    [
        (True, 7, 200),  # half the budget or less: nothing can be due
        (False, 7, 390),  # summaries off
        (True, None, 390),  # no one to charge
    ],
    ids=["under-half", "off", "no-user"],
)
def test_no_check_is_started(settings, enabled, user_id, held) -> None:
    settings.CHAT_SUMMARIES, settings.CHAT_HISTORY_CHAR_BUDGET = enabled, 400

    async def ended() -> bool:
        summarising.summarise_after("c1", "m1", user_id=user_id, held=held)
        return "c1" in summarising._running

    assert asyncio.run(ended()) is False


def test_the_prompt_gives_the_previous_summary_then_the_turns(settings) -> None:
    settings.CHAT_HISTORY_CHAR_BUDGET = 400
    due = Due("c1", "m3", 7, "", "They met.", [("user", "Hi"), ("assistant", "Hello")])
    prompt = summarising.prompt(due)
    assert prompt.startswith("Summarise the conversation below") and "100 characters" in prompt
    earlier = "Summary of what came before:\nThey met."
    assert prompt.endswith(f"{earlier}\n\nUser: Hi\n\nAssistant: Hello")
