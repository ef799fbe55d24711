"""Which Slack events ask something, their thread and their question."""

from __future__ import annotations

from typing import Any

import pytest

from chat.slack.events import ask_of, question, thread_of, wanted

MENTION = {"type": "app_mention", "user": "U1", "channel": "C1", "ts": "1.1", "text": "hi"}
DM = {**MENTION, "type": "message", "channel_type": "im", "channel": "D1"}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (MENTION, True),
        (DM, True),
        ({**DM, "channel_type": "channel"}, False),  # a channel message without a mention
        ({**MENTION, "bot_id": "B1"}, False),
        ({**DM, "subtype": "message_changed"}, False),
        ({**DM, "subtype": "bot_message"}, False),
        ({**MENTION, "user": ""}, False),
        ({k: v for k, v in MENTION.items() if k != "ts"}, False),
        ({**MENTION, "type": "reaction_added"}, False),
    ],
)
def test_wanted(event: dict[str, Any], expected: bool) -> None:
    assert wanted(event) is expected


@pytest.mark.parametrize(
    ("event", "thread"),
    [
        (MENTION, "1.1"),  # outside a thread: starts one on the message
        ({**MENTION, "ts": "2.2", "thread_ts": "1.1"}, "1.1"),  # in a thread: that thread
    ],
)
def test_thread_of(event: dict[str, Any], thread: str) -> None:
    assert thread_of(event) == thread


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("<@U0BOT> what is 2+2?", "what is 2+2?"),
        ("<@U0BOT|bot>  hello  <@U0BOT>", "hello"),
        ("compare a &lt; b &amp;&amp; c &gt; d", "compare a < b && c > d"),
        ("<@U0BOT>", ""),
        ("line one\nline two", "line one\nline two"),
    ],
)
def test_question(text: str, asked: str) -> None:
    assert question(text) == asked


def test_ask_of_an_envelope() -> None:
    ask = ask_of({"type": "event_callback", "event_id": "Ev1", "event": {**MENTION}})
    assert ask is not None
    assert (ask.event_id, ask.slack_user, ask.channel, ask.thread_ts) == ("Ev1", "U1", "C1", "1.1")
    assert ask.message_key == "C1:1.1"


@pytest.mark.parametrize(
    "envelope",
    [
        {"type": "event_callback"},
        {"type": "event_callback", "event": "nonsense"},
        {"type": "event_callback", "event": {**MENTION, "text": "<@U0BOT>"}},  # blank
    ],
)
def test_ask_of_nothing(envelope: dict[str, Any]) -> None:
    assert ask_of(envelope) is None
