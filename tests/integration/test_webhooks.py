"""Webhooks end to end: answers streamed by the loopback model server over the real
channel layer (both channels_redis layers) and PostgreSQL, followed by post()'s hook,
written to the outbox and posted by the delivery worker to receivers on loopback
(WEBHOOK_ALLOW_PRIVATE_TARGETS on, as an operator would for their own network)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chat.models import Conversation, WebhookDelivery, WebhookSubscription
from chat.streaming.stream import post
from chat.transports.webhooks import producer, worker
from chat.webhooks import services
from chat.webhooks.targets import TargetRefused
from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.waiting import wait_for
from tests.support.webhook_receiver import WebhookReceiver

from .conftest import make_conversation, make_user, open_socket, receive, receive_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

DELTAS = ["Hello, wor", "ld. How ", "are you?\nFi", "ne, thanks."]
TEXT = "".join(DELTAS)
CHUNKS = {
    "line": ["Hello, world. How are you?\n", "Fine, thanks."],
    "sentence": ["Hello, world. ", "How are you?\n", "Fine, thanks."],
    "clause": ["Hello, ", "world. ", "How are you?\n", "Fine, ", "thanks."],
    "end": [TEXT],
}


@pytest.fixture
async def hooks(settings: Any, redis_layer: Any) -> AsyncIterator[None]:
    """Delivery on, loopback allowed, quick retries; the worker stopped afterwards."""
    settings.WEBHOOK_DELIVERY = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.05
    settings.WEBHOOK_POLL_SECONDS = 0.1
    yield
    await producer.feeds_done(timeout=10)
    await worker.stop_delivering()


@pytest.fixture
def receiver() -> Any:
    with WebhookReceiver() as server:
        yield server


@database_sync_to_async
def subscribe(
    owner: Any,
    receiver: WebhookReceiver,
    *,
    mode: str = "sentence",
    fmt: str = "json",
    conversation: Conversation | None = None,
) -> WebhookSubscription:
    subscription = services.subscription_create(
        owner=owner, url=receiver.url, mode=mode, format=fmt, conversation=conversation
    )
    receiver.secret = subscription.secret
    return subscription


@database_sync_to_async
def reload(subscription: WebhookSubscription) -> WebhookSubscription:
    return WebhookSubscription.objects.get(pk=subscription.pk)


@database_sync_to_async
def outbox(message_id: str) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(message_id=message_id).order_by("seq"))


async def answer(stub: OpenAIStub, user: Any, conversation: Any, reply: Reply) -> str:
    """Ask in a tab; its answer's id once the tab has the answer's `end`."""
    return str((await tab_frames(stub, user, conversation, reply))[-1]["message_id"])


async def tab_frames(
    stub: OpenAIStub, user: Any, conversation: Any, reply: Reply
) -> list[dict[str, Any]]:
    """Ask in a tab; every frame it got up to the answer's `end` (complete)."""
    stub.replies.append(reply)
    ws = await open_socket(user, conversation, "sentence")
    assert (await receive(ws))["type"] == "history"
    await ws.send_json_to({"type": "user_message", "content": "Say hello"})
    frames = await receive_until(ws, "end")
    await ws.disconnect()
    assert frames[-1]["status"] == "complete"
    return frames


def shape(frames: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """What a tab was sent, without ids and timings."""
    return [(f["type"], f.get("text", f.get("status", ""))) for f in frames]


async def chat() -> tuple[Any, Conversation]:
    user = await make_user()
    return user, await make_conversation(user)


def seqs(bodies: list[dict[str, Any]]) -> list[int]:
    return [b["seq"] for b in bodies]


@pytest.mark.parametrize("mode", list(CHUNKS))
async def test_each_mode_delivers_its_chunks_in_order_then_the_final_word(
    hooks: None, stub: OpenAIStub, receiver: WebhookReceiver, mode: str
) -> None:
    """Ours: one body per chunk (message_id, seq, text) and a final status, signed."""
    user, conversation = await chat()
    await subscribe(user, receiver, mode=mode, conversation=conversation)
    message_id = await answer(stub, user, conversation, Reply(deltas=DELTAS))
    expected = len(CHUNKS[mode]) + 1
    await wait_for(lambda: len(receiver.delivered()) == expected, 15, what="every delivery")
    bodies = receiver.delivered()
    assert seqs(bodies) == list(range(expected))
    assert [b["text"] for b in bodies[:-1]] == CHUNKS[mode]
    assert {b["message_id"] for b in bodies} == {message_id}
    assert bodies[-1] == {
        "message_id": message_id,
        "seq": expected - 1,
        "status": "complete",
        "error_code": None,
    }
    assert all(r.signed for r in receiver.received)  # verified with the secret shown
    assert receiver.received[0].headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(("fmt", "key"), [("slack", "text"), ("discord", "content")])
async def test_chat_tools_get_one_post_per_sentence(
    hooks: None, stub: OpenAIStub, receiver: WebhookReceiver, fmt: str, key: str
) -> None:
    """Slack's {"text"} and Discord's {"content"}: a post per sentence, no final note
    for an answer that completed."""
    user, conversation = await chat()
    await subscribe(user, receiver, mode="sentence", fmt=fmt)  # all of the user's
    await answer(stub, user, conversation, Reply(deltas=DELTAS))
    await wait_for(lambda: len(receiver.delivered()) == 3, 15, what="three sentences")
    assert receiver.delivered() == [{key: text} for text in CHUNKS["sentence"]]
    message_id = str(await database_sync_to_async(_last_answer)(conversation))

    async def marked() -> bool:
        return [r.status for r in await outbox(message_id)] == ["delivered"] * 3

    await wait_for(marked, 5, what="the rows marked delivered")


def _last_answer(conversation: Conversation) -> Any:
    return conversation.messages.filter(role="assistant").latest("created").pk


async def test_order_is_kept_while_a_receiver_fails_then_recovers(
    hooks: None, stub: OpenAIStub, receiver: WebhookReceiver
) -> None:
    """500 three times: the first chunk is retried with back-off and nothing after it
    goes first; once it recovers, every chunk arrives once, in seq order."""
    receiver.statuses = [500, 500, 500]
    user, conversation = await chat()
    await subscribe(user, receiver, mode="clause")
    await answer(stub, user, conversation, Reply(deltas=DELTAS))
    expected = len(CHUNKS["clause"]) + 1
    await wait_for(lambda: len(receiver.delivered()) == expected, 15, what="recovery")
    attempts = [(r.body["seq"], r.status) for r in receiver.received]
    assert attempts == [(0, 500)] * 3 + [(seq, 200) for seq in range(expected)]
    rows = await outbox(receiver.delivered()[0]["message_id"])
    assert rows[0].attempts == 4 and rows[0].last_error == ""


async def test_a_slow_receiver_delays_neither_the_answer_nor_other_receivers(
    hooks: None, stub: OpenAIStub, receiver: WebhookReceiver
) -> None:
    """A receiver that holds the first request: the tab gets the whole answer and its
    end, and another subscription gets every chunk, while that request is still held;
    once it answers, it gets the rest in order."""
    receiver.hold.clear()
    user, conversation = await chat()
    alone = await tab_frames(stub, user, conversation, Reply(deltas=DELTAS))  # no webhook
    await subscribe(user, receiver, mode="sentence", conversation=conversation)
    with WebhookReceiver() as fast:
        await subscribe(user, fast, mode="line")
        watched = await tab_frames(stub, user, conversation, Reply(deltas=DELTAS))
        assert shape(watched) == shape(alone)  # the same frames, the end included
        await wait_for(lambda: receiver.waiting == 1, 10, what="the slow request")
        await wait_for(lambda: len(fast.delivered()) == 3, 10, what="the fast receiver")
        assert receiver.waiting == 1 and receiver.received == []  # still held
    receiver.hold.set()
    await wait_for(lambda: len(receiver.delivered()) == 4, 15, what="the slow one's rest")
    assert [b.get("text") for b in receiver.delivered()[:3]] == CHUNKS["sentence"]


async def test_a_restart_mid_delivery_loses_nothing(
    hooks: None, stub: OpenAIStub, receiver: WebhookReceiver, settings: Any
) -> None:
    """The worker stopped while a POST is in flight (its process gone): the rows stay
    pending; a new worker takes the claimed one after its lease, then the rest."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0  # the lease: 1 + 5 s
    receiver.hold.clear()
    user, conversation = await chat()
    await subscribe(user, receiver, mode="clause")
    message_id = await answer(stub, user, conversation, Reply(deltas=DELTAS))
    await wait_for(lambda: receiver.waiting == 1, 10, what="a request in flight")
    await worker.stop_delivering()
    assert all(r.status == "pending" for r in await outbox(message_id))
    receiver.hold.set()
    worker.ensure_delivering()
    expected = len(CHUNKS["clause"]) + 1

    def delivered_seqs() -> list[int]:
        return sorted(set(seqs(receiver.delivered())))

    await wait_for(lambda: delivered_seqs() == list(range(expected)), 20, what="all rows")
    firsts = list(dict.fromkeys(seqs(receiver.delivered())))
    assert firsts == list(range(expected))  # in order (the interrupted one may come twice)

    async def all_marked() -> bool:
        return all(r.status == "delivered" for r in await outbox(message_id))

    await wait_for(all_marked, 5, what="every row marked delivered")


async def test_a_failing_receiver_is_paused_and_its_rows_wait(
    hooks: None, stub: OpenAIStub, receiver: WebhookReceiver, settings: Any
) -> None:
    """WEBHOOK_PAUSE_AFTER_FAILURES failures in a row pause the subscription, with the
    reason; its rows stay pending and go, in order, when it is resumed."""
    settings.WEBHOOK_PAUSE_AFTER_FAILURES = 3
    receiver.statuses = [503] * 3
    user, conversation = await chat()
    subscription = await subscribe(user, receiver, mode="line")
    await answer(stub, user, conversation, Reply(deltas=DELTAS))

    async def paused() -> bool:
        return not (await reload(subscription)).active

    await wait_for(paused, 10, what="the pause")
    subscription = await reload(subscription)
    assert "3 failed deliveries in a row" in subscription.paused_reason
    assert "HTTP 503" in subscription.paused_reason
    assert receiver.delivered() == []
    unseen = await answer(stub, user, conversation, Reply(deltas=["While paused."]))
    await producer.feeds_done(timeout=5)
    assert await outbox(unseen) == []  # a paused webhook is sent no new answer
    await database_sync_to_async(services.subscription_update)(
        subscription=subscription, changes={"active": True}
    )
    worker.ensure_delivering().wake.set()  # type: ignore[union-attr]
    await wait_for(lambda: len(receiver.delivered()) == 3, 10, what="the backlog")
    assert seqs(receiver.delivered()) == [0, 1, 2]


async def test_one_users_webhook_never_gets_another_users_text(
    hooks: None, stub: OpenAIStub, receiver: WebhookReceiver
) -> None:
    """A subscription to all of A's conversations: B's answer is never sent to it."""
    alice, hers = await chat()
    bob, his = await chat()
    await subscribe(alice, receiver, mode="end")
    bobs = await answer(stub, bob, his, Reply(deltas=["Bob's secret plan."]))
    alices = await answer(stub, alice, hers, Reply(deltas=DELTAS))
    await wait_for(lambda: len(receiver.delivered()) == 2, 15, what="Alice's answer")
    assert {b["message_id"] for b in receiver.delivered()} == {alices}
    assert await outbox(bobs) == []
    assert "secret" not in json.dumps([r.body for r in receiver.received])


async def test_private_targets_are_refused_without_the_operator_setting(
    hooks: None, stub: OpenAIStub, receiver: WebhookReceiver, settings: Any
) -> None:
    """At subscribe time; and at delivery time (the setting turned off since): the
    subscription is paused at once and the receiver gets nothing."""
    user, conversation = await chat()
    subscription = await subscribe(user, receiver, mode="end")
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(TargetRefused, match="loopback"):
        await subscribe(user, receiver)
    await answer(stub, user, conversation, Reply(deltas=DELTAS))

    async def paused() -> WebhookSubscription | None:
        found = await reload(subscription)
        return None if found.active else found

    found = await wait_for(paused, 10, what="the pause")
    assert "loopback" in found.paused_reason
    assert receiver.received == []


async def test_a_failed_answer_ends_with_its_status_and_code(
    hooks: None, stub: OpenAIStub, receiver: WebhookReceiver
) -> None:
    """The final body says `failed` and the error code the answer was saved with."""
    user, conversation = await chat()
    await subscribe(user, receiver, mode="sentence")
    stub.replies.append(Reply(deltas=["Half a sentence", " and then"], fail_after=1))
    ws = await open_socket(user, conversation)
    assert (await receive(ws))["type"] == "history"
    await ws.send_json_to({"type": "user_message", "content": "Fail please"})
    frames = await receive_until(ws, "end")
    await ws.disconnect()
    assert frames[-1]["status"] == "error"
    code = next(f["code"] for f in frames if f["type"] == "error")
    await wait_for(lambda: receiver.delivered()[-1:] and "status" in receiver.delivered()[-1], 15)
    bodies = receiver.delivered()
    assert "".join(b["text"] for b in bodies[:-1]) == "Half a sentence"
    assert (bodies[-1]["status"], bodies[-1]["error_code"]) == ("failed", code)


async def test_an_answer_hook_that_fails_never_stops_the_answer(
    hooks: None, stub: OpenAIStub, receiver: WebhookReceiver
) -> None:
    """post()'s hooks run as an answer starts; one that raises is logged, and the
    answer, its tab and the other hooks (webhooks) go on."""

    def broken(conversation_id: str, message_id: str) -> None:
        raise RuntimeError("a broken follower")

    post._answer_hooks.insert(0, broken)
    try:
        user, conversation = await chat()
        await subscribe(user, receiver, mode="end")
        await answer(stub, user, conversation, Reply(deltas=DELTAS))
        await wait_for(lambda: len(receiver.delivered()) == 2, 15, what="the webhook")
    finally:
        post._answer_hooks.remove(broken)


@database_sync_to_async
def aged_rows(subscription: WebhookSubscription) -> list[str]:
    """Rows of every status, made ten days old; then the prune; the statuses left."""
    for seq, status in enumerate(["delivered", "failed", "pending"]):
        WebhookDelivery.objects.create(
            subscription=subscription,
            message_id="8d0c4a8e-0000-4000-8000-000000000001",
            seq=seq,
            body={},
            status=status,
        )
    WebhookDelivery.objects.update(created=timezone.now() - timedelta(days=10))
    services.deliveries_prune(days=7)
    return list(WebhookDelivery.objects.values_list("status", flat=True))


async def test_old_finished_rows_are_pruned_and_pending_ones_kept(
    hooks: None, receiver: WebhookReceiver
) -> None:
    user = await make_user()
    subscription = await subscribe(user, receiver)
    assert await aged_rows(subscription) == ["pending"]
