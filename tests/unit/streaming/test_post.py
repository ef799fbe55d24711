"""What a poster does itself when the channel layer did not carry its message
(chat/streaming/stream/post.py `unannounced_start`). No database, no layer."""

from __future__ import annotations

import pytest

from chat import contract
from chat.streaming.stream.post import Posted, unannounced_start

QUESTION = {"type": "message", "id": "q1", "role": "user", "content": "Hi"}


@pytest.mark.parametrize(
    ("posted", "start"),
    [
        (Posted(QUESTION, announced=True, answer_id="a1", model="m"), None),
        (Posted(QUESTION, announced=False, answer_id="a1", model="m"), ("a1", "m")),
        (Posted(QUESTION, announced=False), None),
        (Posted(None, announced=True, answer_id="a1", model="m"), None),
    ],
    ids=["announced", "never-announced", "a-resend", "nothing-to-announce"],
)
def test_the_poster_follows_the_start_only_of_an_answer_never_announced(
    posted: Posted, start: tuple[str, str] | None
) -> None:
    """Its subscriber gets the answer's `chat.start` from the poster only when the
    layer failed to announce the question and an answer was started; otherwise the
    bus brings it (or there is no new answer: a resend)."""
    expected = contract.chat_start(*start) if start is not None else None
    assert unannounced_start(posted) == expected
