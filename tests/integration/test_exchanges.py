"""Group commit of exchanges: the batch applies every rule to each request,
against the real database, and the batcher never delays a lone request."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.conversations import quotas, services
from chat.models import Conversation, Message
from chat.streaming.answer import exchanges
from chat.streaming.answer.exchanges import (
    ExchangeRequest,
    exchanges_start,
    exchanges_start_or_each,
    start_alone,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def many_answers_at_once(settings) -> None:
    """Users here start several answers at once; that limit is tested in test_limits.py."""
    settings.CHAT_MAX_ACTIVE_ANSWERS_PER_USER = 100


def user(name: str):
    return get_user_model().objects.create_user(name)


def request(owner, conversation, content="Hello there", client_id=None) -> ExchangeRequest:
    return ExchangeRequest(owner, conversation.pk, content, client_id)


def test_a_batch_applies_each_rule_like_a_single_exchange(settings) -> None:
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 2
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    first, second, stale, live = (Conversation.objects.create(owner=alice) for _ in range(4))
    bobs = Conversation.objects.create(owner=bob)
    carols = Conversation.objects.create(owner=carol)
    old = start_alone(request(carol, carols, "Earlier", "c-1"))
    services.message_finish(message_id=old.assistant_message.pk, content="Yes.", status="complete")
    start_alone(request(carol, Conversation.objects.create(owner=carol), "Second"))
    Message.objects.create(conversation=live, role="assistant", status="streaming")
    swept = Message.objects.create(conversation=stale, role="assistant", status="streaming")
    Message.objects.filter(pk=swept.pk).update(updated=timezone.now() - timedelta(minutes=5))

    outcomes = exchanges_start(
        [
            request(alice, first, "First question\nsecond line", "a-1"),
            request(alice, first, "Again, same conversation"),  # busy: the one above
            request(alice, second, "Dup", "a-2"),
            request(alice, second, "Dup", "a-2"),  # a resend within the batch
            request(alice, stale),  # its dead answer is swept; a third for alice: limited
            request(alice, live),  # busy
            request(bob, first),  # not his conversation
            request(carol, carols, "Earlier", "c-1"),  # a resend of a saved message
            request(carol, carols, "New"),  # rate limited: two in the last minute
        ]
    )
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == [
        "Exchange",
        "ConversationBusy",
        "Exchange",
        "Exchange",
        "RateLimited",
        "ConversationBusy",
        "DoesNotExist",
        "Exchange",
        "RateLimited",
    ]
    started, resent, saved_resend = outcomes[0], outcomes[3], outcomes[7]
    assert started.assistant_message.status == "streaming"
    assert started.user_message.created < started.assistant_message.created
    assert started.context == [("user", "First question\nsecond line")]
    assert resent.assistant_message is None
    assert resent.user_message.pk == outcomes[2].user_message.pk
    assert saved_resend.assistant_message is None
    assert saved_resend.user_message.pk == old.user_message.pk
    first.refresh_from_db()
    assert first.title == "First question"
    assert Message.objects.filter(conversation=first).count() == 2
    assert Message.objects.filter(conversation=second).count() == 2
    assert Message.objects.filter(conversation=bobs).count() == 0
    swept.refresh_from_db()
    assert swept.status == "error"  # a stale answer is swept even when the request is refused


def test_a_batch_costs_a_few_statements_plus_one_read_each() -> None:
    owners = [user(f"u{i}") for i in range(20)]
    requests = [request(o, Conversation.objects.create(owner=o)) for o in owners]
    with CaptureQueriesContext(connection) as queries:
        outcomes = exchanges_start(requests)
    assert all(isinstance(o, services.Exchange) for o in outcomes)
    assert len(queries) <= 10 + len(requests)  # single exchanges: about 10 each


def test_a_failing_batch_runs_each_request_alone(monkeypatch) -> None:
    owner = user("solo")
    conversations = [Conversation.objects.create(owner=owner) for _ in range(3)]

    whole = exchanges.exchanges_start

    def broken(requests):  # a batch fails as a whole; a request alone goes through
        if len(requests) > 1:
            raise RuntimeError("deadlock detected")
        return whole(requests)

    monkeypatch.setattr(exchanges, "exchanges_start", broken)
    outcomes = exchanges_start_or_each(
        [request(owner, c) for c in conversations] + [request(owner, conversations[0])]
    )
    assert [type(o).__name__ for o in outcomes] == [
        "Exchange",
        "Exchange",
        "Exchange",
        "ConversationBusy",
    ]


@pytest.mark.asyncio
async def test_the_batcher_sends_a_lone_request_at_once_and_groups_a_burst(monkeypatch) -> None:
    sizes: list[int] = []
    real = exchanges.exchanges_start_or_each

    def recording(requests):
        sizes.append(len(requests))
        return real(requests)

    monkeypatch.setattr(exchanges._exchanges, "func", recording)  # the group call's

    @sync_to_async
    def setup(count: int):
        owners = [user(f"b{len(sizes)}-{i}") for i in range(count)]
        return [request(o, Conversation.objects.create(owner=o)) for o in owners]

    (lone,) = await setup(1)
    assert (await exchanges.exchange_start(lone)).assistant_message is not None
    assert sizes == [1]
    burst = await setup(30)
    results = await asyncio.gather(*(exchanges.exchange_start(r) for r in burst))
    assert all(r.assistant_message is not None for r in results)
    assert sum(sizes[1:]) == 30 and len(sizes) - 1 < 30  # grouped, every one started
    with pytest.raises(quotas.ConversationBusy):
        await exchanges.exchange_start(burst[0])
    await sync_to_async(connections.close_all)()  # the test's own thread-sensitive one
