"""Soak (bounded, loopback): hundreds of sockets open and close while answers stream.

Afterwards: no leaked tasks or sockets, memory within a bound, no message left
`streaming`, and every saved answer equals what each tab that watched it to the end
received (its history text plus its chunks)."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import tracemalloc

import pytest
from channels.db import database_sync_to_async

from chat.accounts import guards
from chat.models import Message
from chat.streaming.answer.registry import wait_for_answers
from tests.support.waiting import wait_for

from .conftest import make_conversation, make_user, open_socket, receive, receive_until

# A soak, not a latency test: its waits are generous, because it shares the machine
# with the other test workers (Makefile TEST_WORKERS) and runs under tracemalloc.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(360)]
WAIT = 120  # seconds a frame may take, at most

USERS = 30
ROUNDS = 3
VISITS = 120  # short-lived sockets per round: join mid-answer, read a little, leave
MEMORY_BOUND = 8 * 1024 * 1024  # bytes still allocated after the rounds, at most


@database_sync_to_async
def streaming_left() -> int:
    return Message.objects.filter(status="streaming").count()


@database_sync_to_async
def saved_answers(ids: list[str]) -> dict[str, Message]:
    return {str(m.pk): m for m in Message.objects.filter(pk__in=ids)}


async def watch_to_the_end(ws, conversation_id) -> tuple[str, str]:
    """Send a message on an open socket and read to the end: (answer id, text seen)."""
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": "soak"}))
    frames = await receive_until(ws, "end", timeout=WAIT)
    answer_id = frames[-1]["message_id"]
    chunks = [f for f in frames if f["type"] == "chunk" and f["message_id"] == answer_id]
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))
    return answer_id, "".join(c["text"] for c in chunks)


async def visit(user, conversation, rng: random.Random) -> tuple[str, str] | None:
    """A tab that opens mid-answer; it leaves early, or stays to the end and returns
    (answer id, history text + chunks)."""
    mode = rng.choice(["token", "sentence", "clause"])
    ws = await open_socket(user, conversation, mode, timeout=WAIT)
    try:
        history = await receive(ws, timeout=WAIT)
        live = [m for m in history["messages"] if m["status"] == "streaming"]
        if not live or rng.random() < 0.5:
            await asyncio.sleep(rng.random() * 0.05)  # reads a little, then closes
            return None
        answer_id = live[0]["id"]
        text = live[0]["content"]
        while True:
            frame = await receive(ws, timeout=WAIT)
            if frame.get("message_id") != answer_id:
                continue
            if frame["type"] == "chunk":
                text += frame["text"]
            elif frame["type"] == "end":
                return answer_id, text
    finally:
        await ws.disconnect()


def waits_in(task: asyncio.Task) -> str:
    """Where a suspended task waits: its chain of awaits, outermost first."""
    places, awaited = [], task.get_coro()
    while awaited is not None and getattr(awaited, "cr_frame", None) is not None:
        frame = awaited.cr_frame
        places.append(f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}")
        awaited = awaited.cr_await
    return " > ".join(places) + (f" > {awaited!r}"[:200] if awaited is not None else "")


async def test_sockets_come_and_go_while_answers_stream(redis_layer, settings) -> None:
    settings.DEMO_TOKEN_DELAY_MS = 8
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 1000
    settings.CHAT_MAX_SOCKETS_PER_USER = 1000
    rng = random.Random(7)
    users = [await make_user() for _ in range(USERS)]
    conversations = [await make_conversation(u) for u in users]
    tasks_before = {t.get_name() for t in asyncio.all_tasks()}
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    seen: dict[str, list[str]] = {}
    sockets = 0
    for _ in range(ROUNDS):
        owners = [
            await open_socket(u, c, timeout=WAIT) for u, c in zip(users, conversations, strict=True)
        ]
        for ws in owners:
            assert (await receive(ws, timeout=WAIT))["type"] == "history"
        asking = [
            asyncio.create_task(watch_to_the_end(ws, c.pk))
            for ws, c in zip(owners, conversations, strict=True)
        ]
        await asyncio.sleep(0.05)  # the answers are under way
        picks = [rng.randrange(USERS) for _ in range(VISITS)]
        visits = await asyncio.gather(*(visit(users[i], conversations[i], rng) for i in picks))
        for answer_id, text in [*await asyncio.gather(*asking), *filter(None, visits)]:
            seen.setdefault(answer_id, []).append(text)
        for ws in owners:
            await ws.disconnect()
        sockets += len(owners) + VISITS
    await wait_for_answers(timeout=WAIT)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()

    assert sockets == ROUNDS * (USERS + VISITS)
    assert len(seen) == ROUNDS * USERS  # every answer was watched to the end at least once
    saved = await saved_answers(list(seen))
    assert await streaming_left() == 0
    for answer_id, texts in seen.items():
        assert saved[answer_id].status == "complete"
        assert all(text == saved[answer_id].content for text in texts), answer_id
    assert grown < MEMORY_BOUND, f"{grown / 1e6:.1f} MB still allocated"

    def leaked() -> dict[str, str]:
        """Tasks left, by name, each with where it waits (its innermost frames)."""
        # The per-loop workers (progress saver, exchange batcher) may outlive the rounds.
        return {
            t.get_name(): waits_in(t)
            for t in asyncio.all_tasks()
            if t.get_name() not in tasks_before
            and t.get_name().startswith(("answer-", "deadline-"))
        }

    # A socket's end is counted when its consumer has finished; on the core layer a
    # cancelled receive can take a few seconds to let go of Redis (a blocking BZPOPMIN).
    started = asyncio.get_running_loop().time()

    def counted() -> list[int]:
        return [u.pk for u in users if u.pk in guards._open_sockets]

    try:
        await wait_for(lambda: not leaked() and not counted(), timeout=30)
    except AssertionError:
        raise AssertionError(f"left after 30 s: tasks {leaked()}, sockets of {counted()}") from None
    print(f"all ended {asyncio.get_running_loop().time() - started:.1f} s after the rounds")
