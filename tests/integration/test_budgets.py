"""The daily token budget over real sockets, Redis and PostgreSQL: an answer is charged
to the user who asked even if its conversation is deleted before it ends, and the
answers streaming at once hold an estimate of their cost (their reservation), so a
second one cannot start when both could run past the budget."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone

from chat.conversations import services
from chat.conversations.quotas import Refused
from chat.models import Conversation, Message, UserQuota
from chat.streaming.answer.exchanges import ExchangeRequest, start_alone
from chat.streaming.answer.registry import wait_for_answers

from .conftest import make_conversation, make_user, open_socket, receive, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


async def send(ws, **frame) -> None:
    await ws.send_to(text_data=json.dumps(frame))


async def chat(user) -> tuple[Conversation, object]:
    conversation = await make_conversation(user)
    ws = await open_socket(user, conversation)
    assert (await receive(ws))["type"] == "history"
    return conversation, ws


@database_sync_to_async
def tokens_day(user) -> int:
    quota = UserQuota.objects.filter(user=user).first()
    return quota.tokens_day if quota else 0


@database_sync_to_async
def delete(conversation) -> None:
    services.conversation_delete(conversation=Conversation.objects.get(pk=conversation.pk))


@pytest.mark.usefixtures("redis_layer")
async def test_an_answer_whose_conversation_is_gone_at_its_end_is_still_charged(settings) -> None:
    """The charge used to find the owner through the conversation: deleted just before
    the end, the answer was charged nothing (the count stayed where it was). Here the
    row is gone mid-answer and the answer runs to its end, so the charge always comes
    after the delete."""
    settings.CHAT_DAILY_TOKEN_BUDGET = 1_000_000
    settings.DEMO_TOKEN_DELAY_MS = 30  # an answer of a few seconds
    user = await make_user()
    conversation, ws = await chat(user)
    await send(ws, type="user_message", content="a long answer please")
    await receive_until(ws, "chunk")  # mid-answer
    gone = Conversation.objects.filter(pk=conversation.pk)
    await database_sync_to_async(gone.delete)()
    end = (await receive_until(ws, "end"))[-1]
    assert end["usage"]["total_tokens"] > 0
    await ws.disconnect()
    await wait_for_answers(timeout=30)
    assert await tokens_day(user) == end["usage"]["total_tokens"]


@pytest.mark.usefixtures("redis_layer")
async def test_deleting_the_conversation_mid_answer_still_charges_the_user(settings) -> None:
    """The delete of the API (the answer is told to stop first): charged what it used."""
    settings.CHAT_DAILY_TOKEN_BUDGET = 1_000_000
    settings.DEMO_TOKEN_DELAY_MS = 30
    user = await make_user()
    conversation, ws = await chat(user)
    await send(ws, type="user_message", content="a long answer please")
    await receive_until(ws, "chunk")
    await ws.disconnect()
    await delete(conversation)
    await wait_for_answers(timeout=30)
    assert await tokens_day(user) > 0


@pytest.mark.usefixtures("redis_layer")
async def test_a_second_answer_at_once_must_fit_in_the_budget_with_the_first(settings) -> None:
    """Both answers used to start (each saw the day's total under the budget) and both
    could run past it; now the first holds its estimate until it ends, and its end
    settles the real usage and frees the rest."""
    settings.CHAT_DAILY_TOKEN_BUDGET = 3000
    settings.LLM_MAX_TOKENS = 2048  # each answer's estimate is above 2048
    settings.DEMO_TOKEN_DELAY_MS = 30
    user = await make_user()
    (_first, one), (_second, two) = await chat(user), await chat(user)
    await send(one, type="user_message", content="first")
    await receive_until(one, "start")
    await send(two, type="user_message", content="second, at once")
    error = await receive(two)
    assert error["type"] == "error" and error["code"] == "quota_exceeded"
    assert 0 < error["retry_after"] <= 60 and "Traceback" not in error["message"]
    await send(one, type="stop")
    end = (await receive_until(one, "end"))[-1]
    assert end["status"] == "stopped"
    assert 0 < await tokens_day(user) < 2048  # settled: what it used, not its estimate
    await send(two, type="user_message", content="now it fits")
    assert (await receive_until(two, "end"))[-1]["status"] == "complete"
    for ws in (one, two):
        await ws.disconnect()


def test_a_reservation_is_held_only_while_its_answer_streams(settings) -> None:
    """Every end of an answer (complete, stopped, error, interrupted by the sweep)
    leaves `streaming`: its reservation is released with it; one whose process died
    (not saved for CHAT_STALE_STREAM_SECONDS) holds nothing either."""
    settings.CHAT_DAILY_TOKEN_BUDGET = 3000
    settings.LLM_MAX_TOKENS = 2048
    user = get_user_model().objects.create_user("reserving")
    held, free = (Conversation.objects.create(owner=user) for _ in range(2))
    answer = Message.objects.create(
        conversation=held,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        reserved_tokens=2100,
    )
    with pytest.raises(Refused) as refused:
        start_alone(ExchangeRequest(user, free.pk, "hi", None))
    assert refused.value.code == "quota_exceeded"
    stale = timezone.now() - timedelta(seconds=settings.CHAT_STALE_STREAM_SECONDS + 1)
    Message.objects.filter(pk=answer.pk).update(updated=stale)  # its process died
    first = start_alone(ExchangeRequest(user, free.pk, "hi", None)).assistant_message
    assert first is not None and first.reserved_tokens > settings.LLM_MAX_TOKENS
    assert services.messages_sweep_stale_all() == 1
    services.message_finish(message_id=first.pk, content="ok", status=Message.Status.COMPLETE)
    other = Conversation.objects.create(owner=user)
    assert start_alone(ExchangeRequest(user, other.pk, "again", None)).assistant_message
