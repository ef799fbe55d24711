"""The shared paths that keep many answers at once cheap, against the real services:
one model client per event loop, batched progress saves, deltas that never wait for
the thread that Django's thread-sensitive calls share."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from langchain_core.messages import HumanMessage, SystemMessage

import chat.streaming.answer.progress
from chat.conversations import services
from chat.conversations.liveness import heartbeat_seconds
from chat.models import Message
from chat.provider.demo import demo_reply
from chat.provider.llm import chat_model, close_chat_models
from chat.streaming.answer.progress import ProgressSaver, _Tracked
from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.waiting import wait_for

from .conftest import (
    chunk_text,
    make_conversation,
    make_user,
    open_chat,
    open_socket,
    receive,
    receive_until,
    saved,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]


async def ask(ws, content: str) -> list[dict]:
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": content}))
    return await receive_until(ws, "end")


async def test_answers_share_one_model_client_and_its_connection(settings) -> None:
    """Two answers in a row: the same ChatOpenAI, and the second request reuses the
    first one's TCP connection (keep-alive from the shared pool)."""
    with OpenAIStub() as stub:
        settings.OPENAI_BASE_URL = stub.base_url
        settings.OPENAI_API_KEY = "sk-test-not-real"
        settings.LLM_MODEL = "stub-model"
        stub.replies += [Reply(deltas=["One."]), Reply(deltas=["Two."])]
        first = chat_model()
        _, _, ws = await open_chat()
        for expected in ("One.", "Two."):
            frames = await ask(ws, "Count")
            assert chunk_text(frames, frames[1]["message_id"]) == expected
        assert chat_model() is first
        assert len(stub.peers) == 2 and stub.peers[0] == stub.peers[1]
        await ws.disconnect()
        client = first.clients[0]
        await close_chat_models()
        assert client.is_closed
        assert chat_model() is not first  # built again after a close, at call time


async def test_chunks_reach_langchain_as_dicts_through_the_real_request(settings) -> None:
    """The streaming path skips openai's typed chunk objects (LangChain dumps them back
    to dicts) but keeps openai's request: parameters, auth header, SSE decoding."""
    with OpenAIStub() as stub:
        settings.OPENAI_BASE_URL = stub.base_url
        settings.OPENAI_API_KEY = "sk-test-not-real"
        stub.replies.append(Reply(deltas=["Plain", " dicts"]))
        handle = chat_model()
        stream = await handle.model.async_client.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = [chunk async for chunk in stream]
        assert all(isinstance(chunk, dict) for chunk in chunks)
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        assert text == "Plain dicts"
        assert stub.auth == ["Bearer sk-test-not-real"]
        assert stub.requests[0]["messages"] == [{"role": "user", "content": "hi"}]
        await close_chat_models()


async def test_model_handle_follows_the_configuration(settings) -> None:
    demo = chat_model()
    assert demo.name == "demo-offline" and chat_model() is demo
    settings.DEMO_TOKEN_DELAY_MS = 7
    assert chat_model() is not demo


@dataclass
class FakeAnswer:
    """Stands in for a Generation: the saver reads only these three."""

    message_id: str
    text: str = ""

    @property
    def length(self) -> int:
        return len(self.text)


@sync_to_async
def streaming_answers(count: int) -> list[str]:
    from django.contrib.auth import get_user_model

    from chat.models import Conversation

    owner = get_user_model().objects.create_user("saver-owner")
    ids = []
    for _ in range(count):
        conversation = Conversation.objects.create(owner=owner)
        message = Message.objects.create(
            conversation=conversation, role="assistant", status=Message.Status.STREAMING
        )
        ids.append(str(message.pk))
    return ids


@sync_to_async
def contents(ids: list[str]) -> dict[str, tuple[str, str]]:
    rows = Message.objects.filter(pk__in=ids).values_list("pk", "content", "status")
    return {str(pk): (content, status) for pk, content, status in rows}


async def test_progress_of_many_answers_is_one_update() -> None:
    """The answers of a process are saved in one UPDATE, and a finished one is never
    overwritten by a late progress save."""
    ids = await streaming_answers(30)
    texts = {pk: f"text of {pk} " for pk in ids}
    await sync_to_async(services.message_finish)(
        message_id=ids[0], content="final", status=Message.Status.COMPLETE
    )

    @sync_to_async
    def save_and_count() -> int:
        with CaptureQueriesContext(connection) as queries:
            services.messages_save_progress(appends={pk: (0, t) for pk, t in texts.items()})
        # One executemany (Django logs it as "N times: UPDATE …"), pipelined by psycopg.
        return sum(1 for q in queries if "UPDATE" in q["sql"])

    assert await save_and_count() == 1
    rows = await contents(ids)
    assert rows[ids[0]] == ("final", "complete")
    assert all(rows[pk] == (texts[pk], "streaming") for pk in ids[1:])


async def test_saver_saves_what_grew_and_heartbeats_the_rest(monkeypatch, settings) -> None:
    ids = await streaming_answers(5)
    answers = [FakeAnswer(pk) for pk in ids]
    saver = ProgressSaver()
    now = time.monotonic()
    monkeypatch.setattr(chat.streaming.answer.progress.time, "monotonic", lambda: now)
    for answer in answers:
        saver._tracked[answer.message_id] = _Tracked(answer, 0, now)
    assert await saver.save_due() == 0  # nothing to save yet
    for answer in answers:
        answer.text = f"so far {answer.message_id}"
    assert await saver.save_due() == 5
    assert await saver.save_due() == 0
    answers[1].text += " and more"
    assert await saver.save_due() == 1
    rows = await contents(ids)
    assert all(rows[a.message_id][0] == a.text for a in answers)
    heartbeat = heartbeat_seconds(settings.CHAT_STALE_STREAM_SECONDS)
    monkeypatch.setattr(chat.streaming.answer.progress.time, "monotonic", lambda: now + heartbeat)
    assert await saver.save_due() == 5  # the heartbeat: all of them once more


async def test_saver_runs_only_while_it_tracks_answers(settings) -> None:
    settings.CHAT_PROGRESS_SAVE_SECONDS = 0.01
    (pk,) = await streaming_answers(1)
    answer = FakeAnswer(pk, "partial")
    saver = ProgressSaver()
    saver.track(answer)

    async def saved_partial() -> bool:
        return (await contents([pk]))[pk][0] == "partial"

    await wait_for(saved_partial, timeout=5, what="the first tick's save")
    task = saver._task
    assert task is not None and not task.done()
    saver.untrack(pk)
    await asyncio.wait_for(task, 5)
    assert saver._task is None


async def test_deltas_do_not_wait_for_the_thread_sensitive_thread() -> None:
    """With Django's shared thread-sensitive thread busy, a whole answer still
    streams and is saved: nothing on its path queues behind that thread."""
    user = await make_user()
    conversation = await make_conversation(user)
    release = threading.Event()
    blocker = asyncio.ensure_future(sync_to_async(release.wait, thread_sensitive=True)(30))
    try:
        ws = await open_socket(user, conversation)
        assert (await receive(ws))["type"] == "history"
        frames = await ask(ws, "Busy thread")
        answer_id = frames[1]["message_id"]
        assert not blocker.done()  # the thread was busy the whole time
        text = chunk_text(frames, answer_id)
        assert frames[-1]["status"] == "complete"
    finally:
        release.set()
        await blocker
    answer = await saved(answer_id)
    assert answer.content == text
    assert text == demo_reply_to("Busy thread")
    await ws.disconnect()


def demo_reply_to(prompt: str) -> str:
    return demo_reply([SystemMessage("x"), HumanMessage(prompt)])
