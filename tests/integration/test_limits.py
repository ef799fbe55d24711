"""Per-user limits over real sockets, Redis and PostgreSQL: they hold across
conversations, across concurrent transactions (as two processes would run them), and
after conversations are deleted; a refusal saves nothing and says when to retry."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.db import connections

from chat.conversations import services
from chat.conversations.quotas import Refused
from chat.models import Conversation, Message, UserQuota
from chat.streaming.answer.exchanges import ExchangeRequest, start_alone

from .conftest import make_conversation, make_user, open_socket, receive, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


async def send(ws, **frame) -> None:
    await ws.send_to(text_data=json.dumps(frame))


@database_sync_to_async
def user_messages(user) -> int:
    return Message.objects.filter(conversation__owner=user, role="user").count()


@database_sync_to_async
def delete(conversation) -> None:
    services.conversation_delete(conversation=Conversation.objects.get(pk=conversation.pk))


async def chat(user) -> tuple[Conversation, object]:
    conversation = await make_conversation(user)
    ws = await open_socket(user, conversation)
    assert (await receive(ws))["type"] == "history"
    return conversation, ws


@pytest.mark.usefixtures("redis_layer")
async def test_the_rate_limit_is_per_user_and_survives_deleting_conversations(settings) -> None:
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 2
    user = await make_user()
    first, ws = await chat(user)
    for content in ("one", "two"):
        await send(ws, type="user_message", content=content)
        await receive_until(ws, "end")
    await ws.disconnect()
    await delete(first)  # the count used to drop with the conversation
    _second, ws = await chat(user)
    await send(ws, type="user_message", content="three")
    error = await receive(ws)
    assert error["type"] == "error" and error["code"] == "rate_limited"
    assert 1 <= error["retry_after"] <= 60 and "Traceback" not in error["message"]
    assert await user_messages(user) == 0  # nothing saved
    await ws.disconnect()


@pytest.mark.usefixtures("redis_layer")
async def test_answers_at_once_are_capped_per_user(settings) -> None:
    settings.CHAT_MAX_ACTIVE_ANSWERS_PER_USER = 2
    settings.DEMO_TOKEN_DELAY_MS = 30  # answers of a few seconds
    user = await make_user()
    tabs = [await chat(user) for _ in range(3)]
    for _conversation, ws in tabs[:2]:
        await send(ws, type="user_message", content="long one")
        await receive_until(ws, "start")
    third = tabs[2][1]
    await send(third, type="user_message", content="one too many")
    error = await receive(third)
    assert error["code"] == "rate_limited" and "2 answers" in error["message"]
    assert error["retry_after"] > 0
    await send(tabs[0][1], type="stop")
    await receive_until(tabs[0][1], "end")
    await send(third, type="user_message", content="now there is room")
    frames = await receive_until(third, "end")
    assert frames[-1]["status"] == "complete"
    for _conversation, ws in tabs:
        await ws.disconnect()


def test_concurrent_sends_to_many_conversations_pass_only_up_to_the_limit(settings) -> None:
    """Eight transactions at once on their own connections, as eight processes would
    run them: the user's quota row serialises them, so exactly the limit passes."""
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 3
    settings.CHAT_MAX_ACTIVE_ANSWERS_PER_USER = 100
    user = get_user_model().objects.create_user("burst")
    conversations = [Conversation.objects.create(owner=user) for _ in range(8)]

    def start(conversation: Conversation) -> str:
        try:
            start_alone(ExchangeRequest(user, conversation.pk, "hi", None))
            return "started"
        except Refused as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(start, conversations))
    assert sorted(results) == ["rate_limited"] * 5 + ["started"] * 3
    assert Message.objects.filter(conversation__owner=user, role="user").count() == 3
    assert len(UserQuota.objects.get(user=user).recent_sends) == 3


@pytest.mark.usefixtures("redis_layer")
async def test_the_daily_token_budget_counts_reported_usage_and_survives_deletes(settings) -> None:
    settings.CHAT_DAILY_TOKEN_BUDGET = 50  # one demo answer uses more
    user = await make_user()
    first, ws = await chat(user)
    await send(ws, type="user_message", content="spend it")
    end = (await receive_until(ws, "end"))[-1]
    assert end["usage"]["total_tokens"] >= 50
    quota = await database_sync_to_async(UserQuota.objects.get)(user=user)
    assert quota.tokens_day == end["usage"]["total_tokens"]
    await ws.disconnect()
    await delete(first)
    _second, ws = await chat(user)
    await send(ws, type="user_message", content="more please")
    error = await receive(ws)
    assert error["code"] == "quota_exceeded" and 0 < error["retry_after"] <= 86400
    assert await user_messages(user) == 0
    await ws.disconnect()


@pytest.mark.usefixtures("redis_layer")
async def test_an_answer_without_reported_usage_is_charged_an_estimate(settings) -> None:
    settings.LLM_FACTORY = "tests.support.custom_model.make_fake_model"  # reports no usage
    user = await make_user()
    _conversation, ws = await chat(user)
    await send(ws, type="user_message", content="estimate me")
    frames = await receive_until(ws, "end")
    assert frames[-1]["usage"] is None
    quota = await database_sync_to_async(UserQuota.objects.get)(user=user)
    assert quota.tokens_day > 0
    await ws.disconnect()
