"""The day's token usage as the user sees it (issue #22), over the real database, Redis
and sockets: GET /api/usage/ (the chat page's meter), with and without a budget and
while an answer holds its estimate, and the refusal that names when the budget renews,
on the WebSocket and the JSON API."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from chat import db
from chat.conversations import quotas
from chat.models import UserQuota

from .conftest import make_conversation, make_user, open_socket, receive, receive_until
from .sse import bearer_client, error_of, make_token, post_message, session_client

pytestmark = pytest.mark.django_db(transaction=True)

RENEWS = "It renews at 00:00 UTC (in "


def midnight_after(now: Any) -> str:
    return quotas.iso_utc(quotas.next_midnight(now))


@database_sync_to_async
def spend(user: Any, tokens: int, *, days_ago: int = 0) -> None:
    """The user's count for today (or an earlier day), on the database's clock."""
    day = db.database_now().date() - timedelta(days=days_ago)
    UserQuota.objects.update_or_create(user=user, defaults={"day": day, "tokens_day": tokens})


async def send(ws: Any, **frame: Any) -> None:
    await ws.send_to(text_data=json.dumps(frame))


def test_without_a_budget_the_usage_has_no_budget(settings) -> None:
    """Budget 0 is off: the day's tokens are still counted and shown, `budget` and
    `remaining` are null; a request without a login is a JSON 401."""
    settings.CHAT_DAILY_TOKEN_BUDGET = 0
    user = get_user_model().objects.create_user("metered", password="secret-pass-123")
    UserQuota.objects.create(user=user, day=db.database_now().date(), tokens_day=1234)
    client = Client()
    assert client.get("/api/usage/").status_code == 401
    client.force_login(user)
    body = client.get("/api/usage/").json()
    assert body == {
        "tokens_today": 1234,
        "tokens_held": 0,
        "budget": None,
        "remaining": None,
        "resets_at": midnight_after(db.database_now()),
    }


async def test_with_a_budget_the_usage_counts_today_only_for_a_token_too(settings) -> None:
    """Yesterday's count is not today's; a script's Bearer token reads the same figures
    as the session; `resets_at` is the next midnight UTC."""
    settings.CHAT_DAILY_TOKEN_BUDGET = 50_000
    user = await make_user()
    await spend(user, 40_000, days_ago=1)
    session = await session_client(user)
    assert (await session.get("/api/usage/")).json()["tokens_today"] == 0
    await spend(user, 12_300)
    _token, raw = await make_token(user)
    for client in (session, bearer_client(raw)):
        response = await client.get("/api/usage/")
        assert response.status_code == 200 and response["Content-Type"] == "application/json"
        body = response.json()
        assert body == {
            "tokens_today": 12_300,
            "tokens_held": 0,
            "budget": 50_000,
            "remaining": 37_700,
            "resets_at": body["resets_at"],
        }
        now = await database_sync_to_async(db.database_now)()
        assert body["resets_at"] == midnight_after(now)


@pytest.mark.usefixtures("redis_layer")
async def test_an_answer_being_written_holds_tokens_until_it_ends(settings) -> None:
    """While an answer streams the usage shows its estimate held (its context and
    LLM_MAX_TOKENS); at its end the hold is gone and what it used is counted."""
    settings.CHAT_DAILY_TOKEN_BUDGET = 1_000_000
    settings.LLM_MAX_TOKENS = 2048
    settings.DEMO_TOKEN_DELAY_MS = 30  # an answer of a few seconds
    user = await make_user()
    client = await session_client(user)
    ws = await open_socket(user, await make_conversation(user))
    assert (await receive(ws))["type"] == "history"
    await send(ws, type="user_message", content="a long answer please")
    await receive_until(ws, "chunk")  # mid-answer
    during = (await client.get("/api/usage/")).json()
    assert during["tokens_today"] == 0 and during["tokens_held"] > 2048
    assert during["remaining"] == 1_000_000  # held is not used
    end = (await receive_until(ws, "end"))[-1]
    after = (await client.get("/api/usage/")).json()
    assert after["tokens_held"] == 0
    assert after["tokens_today"] == end["usage"]["total_tokens"] > 0
    assert after["remaining"] == 1_000_000 - after["tokens_today"]
    await ws.disconnect()


@pytest.mark.usefixtures("redis_layer")
async def test_the_socket_refusal_names_the_budget_and_when_it_renews(settings) -> None:
    """One demo answer spends a budget of 50; the next message is refused with the
    budget, the renewal time and the wait in words, and `resets_at` beside
    `retry_after`; the meter's figures agree."""
    settings.CHAT_DAILY_TOKEN_BUDGET = 50
    user = await make_user()
    ws = await open_socket(user, await make_conversation(user))
    assert (await receive(ws))["type"] == "history"
    await send(ws, type="user_message", content="spend it")
    assert (await receive_until(ws, "end"))[-1]["usage"]["total_tokens"] >= 50
    await send(ws, type="user_message", content="more please")
    error = await receive(ws)
    assert error["type"] == "error" and error["code"] == "quota_exceeded"
    assert error["message"].startswith("You have used today's budget of 50 tokens. " + RENEWS)
    usage = (await (await session_client(user)).get("/api/usage/")).json()
    assert error["resets_at"] == usage["resets_at"] and usage["remaining"] == 0
    assert 0 < error["retry_after"] <= 86400
    await ws.disconnect()


async def test_the_json_api_refusal_names_the_budget_and_when_it_renews(settings) -> None:
    """POST of a message over the spent budget: 429 `quota_exceeded`, Retry-After, and
    in the body the sentence with the renewal time and `resets_at`."""
    settings.CHAT_DAILY_TOKEN_BUDGET = 50_000
    user = await make_user()
    await spend(user, 50_000)
    conversation = await make_conversation(user)
    response = await post_message(await session_client(user), conversation.pk, content="hi")
    assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 86400
    error = error_of(response)
    assert error["code"] == "quota_exceeded"
    assert error["message"].startswith("You have used today's budget of 50,000 tokens. " + RENEWS)
    now = await database_sync_to_async(db.database_now)()
    assert error["resets_at"] == midnight_after(now)
    assert 0 < error["retry_after"] <= 86400
