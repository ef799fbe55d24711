"""A long answer, continued again and again, over real sockets, Redis, PostgreSQL and
the loopback model server: the model is shown the end it continues, the answer stops
growing at CHAT_MAX_ANSWER_CHARS (continuing past it is refused), and progress saves
send what grew, not the whole text each time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db.backends.utils import CursorWrapper

from chat.models import Conversation, Message
from chat.streaming.answer.exchanges import CONTINUE_PROMPT
from tests.support.openai_stub import Reply
from tests.support.waiting import wait_for

from .conftest import make_user, open_socket, receive, receive_until, saved

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_layer")]


async def send(ws: Any, **frame: Any) -> None:
    await ws.send_to(text_data=json.dumps(frame))


@database_sync_to_async
def cut_off_answer(user: Any, text: str) -> tuple[Conversation, Message]:
    """A conversation whose last answer was cut off by the model's token limit."""
    conversation = Conversation.objects.create(owner=user)
    question = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content="Tell me everything"
    )
    answer = Message.objects.create(
        conversation=conversation,
        parent=question,
        role=Message.Role.ASSISTANT,
        content=text,
        finish_reason="length",
    )
    Conversation.objects.filter(pk=conversation.pk).update(leaf=answer)
    return conversation, answer


async def continue_socket(text: str) -> tuple[Any, Message]:
    user = await make_user()
    conversation, answer = await cut_off_answer(user, text)
    ws = await open_socket(user, conversation)
    assert (await receive(ws))["type"] == "history"
    return ws, answer


@contextmanager
def content_bytes_written() -> Iterator[list[int]]:
    """The characters of text sent with each UPDATE of messages (every thread's)."""
    sent: list[int] = []
    execute, executemany = CursorWrapper.execute, CursorWrapper.executemany

    def measure(sql: str, rows: Any) -> None:
        if sql.lstrip().upper().startswith("UPDATE") and "chat_message" in sql:
            sent.append(sum(len(v) for row in rows for v in row or () if isinstance(v, str)))

    def counting_execute(self: CursorWrapper, sql: str, params: Any = None) -> Any:
        measure(sql, [params])
        return execute(self, sql, params)

    def counting_executemany(self: CursorWrapper, sql: str, param_list: Any) -> Any:
        param_list = list(param_list)
        measure(sql, param_list)
        return executemany(self, sql, param_list)

    CursorWrapper.execute = counting_execute  # type: ignore[method-assign]
    CursorWrapper.executemany = counting_executemany  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        CursorWrapper.execute = execute  # type: ignore[method-assign]
        CursorWrapper.executemany = executemany  # type: ignore[method-assign]


async def test_the_model_is_shown_the_end_of_an_answer_longer_than_the_history(
    stub, settings
) -> None:
    """Past the history budget the whole answer used to be dropped from what the model
    got: it was asked to continue text it could not see."""
    settings.CHAT_HISTORY_CHAR_BUDGET = 2000
    long = "word " * 1000 + "THE LAST WORDS"
    ws, answer = await continue_socket(long)
    stub.replies.append(Reply(deltas=[" and on."]))
    await send(ws, type="continue", message_id=str(answer.pk))
    end = (await receive_until(ws, "end"))[-1]
    assert end["status"] == "complete"
    sent = [(m["role"], m["content"]) for m in stub.requests[-1]["messages"]]
    assert sent[-1] == ("user", CONTINUE_PROMPT)
    role, tail = sent[-2]
    assert role == "assistant" and tail.endswith("THE LAST WORDS")
    assert len(tail) < settings.CHAT_HISTORY_CHAR_BUDGET
    await ws.disconnect()


async def test_an_answer_stops_at_its_cap_and_continuing_past_it_is_refused(stub, settings) -> None:
    """An answer used to grow by a whole answer at each continue, without a bound."""
    settings.CHAT_MAX_ANSWER_CHARS = 120
    ws, answer = await continue_socket("x" * 100)
    stub.replies.append(Reply(deltas=["0123456789"] * 10, delay=0.02))
    await send(ws, type="continue", message_id=str(answer.pk))
    frames = await receive_until(ws, "end")
    end = frames[-1]
    assert end["status"] == "complete" and end["finish_reason"] == "length"
    grown = await saved(end["message_id"])
    assert 120 <= len(grown.content) < 130  # stopped at the cap (one delta past at most)
    await wait_for(lambda: stub.disconnects == 1, what="the model's stream closed at the cap")
    await send(ws, type="continue", message_id=end["message_id"])
    error = await receive(ws)
    assert error["type"] == "error" and error["code"] == "too_long"
    assert "120 characters" in error["message"] and "Traceback" not in error["message"]
    await ws.disconnect()


async def test_progress_saves_of_a_continued_answer_send_what_grew(stub, settings) -> None:
    """Each progress save used to rewrite the whole text (a 20,000-character prefix
    every CHAT_PROGRESS_SAVE_SECONDS); now it appends what the answer gained."""
    settings.CHAT_PROGRESS_SAVE_SECONDS = 0.05
    prefix = "p" * 20_000
    ws, answer = await continue_socket(prefix)
    stub.replies.append(Reply(deltas=[f" d{i:02}" for i in range(40)], delay=0.02))
    with content_bytes_written() as sent:
        await send(ws, type="continue", message_id=str(answer.pk))
        end = (await receive_until(ws, "end"))[-1]
    assert end["status"] == "complete"
    whole = prefix + "".join(f" d{i:02}" for i in range(40))
    assert (await saved(end["message_id"])).content == whole
    progress, final = sent[:-1], sent[-1]  # the final save writes the text once
    assert len(progress) >= 3, sent  # the answer was saved while it streamed
    # What grew (160 characters, and the status each save matches), not the prefix again.
    assert sum(progress) < 1000, sent
    assert len(whole) <= final < len(whole) + 100  # with its status and finish reason
    await ws.disconnect()
