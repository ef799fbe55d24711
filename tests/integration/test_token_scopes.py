"""An API token's scope and expiry on every HTTP door (the JSON API, the server-sent
events API, the OpenAI-compatible /v1), in-process through Django's AsyncClient over
the real channel layer, the real database and the loopback model server."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient
from django.utils import timezone

from chat.accounts import api_tokens as tokens
from chat.models import ApiToken, Conversation, Message
from tests.support.openai_stub import OpenAIStub, Reply
from tests.support.waiting import wait_for

from .conftest import make_conversation, make_user
from .sse import Stream, bearer_client, chunks, error_of, no_stream_open, openai_error_of

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]

QUESTION = [{"role": "user", "content": "Hello?"}]


@database_sync_to_async
def scoped_token(user: Any, scope: str, lifetime: timedelta | None = None) -> tuple[Any, str]:
    return tokens.token_create(user=user, name="script", scope=scope, lifetime=lifetime)


@database_sync_to_async
def expire(token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))


@database_sync_to_async
def counts(user: Any) -> tuple[int, int]:
    """The user's conversations and messages."""
    return (
        Conversation.objects.filter(owner=user).count(),
        Message.objects.filter(conversation__owner=user).count(),
    )


async def complete(client: AsyncClient) -> Any:
    body = {"model": "stub-model", "messages": QUESTION}
    return await client.post(
        "/v1/chat/completions", data=json.dumps(body), content_type="application/json"
    )


async def post_json(client: AsyncClient, path: str, body: dict[str, Any]) -> Any:
    return await client.post(path, data=json.dumps(body), content_type="application/json")


def refused_403(response: Any, *, openai: bool = False) -> bool:
    if response.status_code != 403:
        return False
    error = openai_error_of(response) if openai else error_of(response)
    return error["code"] == "not_allowed"


async def test_a_read_only_token_reads_everywhere_and_changes_nothing(stub: OpenAIStub) -> None:
    """GET requests pass; a new conversation, a message (SSE), a rename, a delete or a
    /v1 completion is refused 403 `not_allowed` in the door's shape, and
    nothing is written or asked of the model."""
    user = await make_user()
    mine = await make_conversation(user)
    _token, raw = await scoped_token(user, ApiToken.Scope.READ)
    client = bearer_client(raw)
    listed = await client.get("/api/conversations/")
    assert listed.status_code == 200 and len(listed.json()["conversations"]) == 1
    assert (await client.get(f"/api/conversations/{mine.pk}/")).status_code == 200
    assert (await client.get("/v1/models")).status_code == 200

    conversation_path = f"/api/conversations/{mine.pk}/"
    assert refused_403(await post_json(client, "/api/conversations/", {"title": "x"}))
    assert refused_403(await post_json(client, f"{conversation_path}messages/", {"content": "Hi"}))
    header = {"authorization": f"Bearer {raw}"}  # BearerClient adds it to GET and POST only
    renamed = json.dumps({"title": "renamed"})
    patched = await client.patch(
        conversation_path, data=renamed, content_type="application/json", headers=header
    )
    assert refused_403(patched)
    assert refused_403(await client.delete(conversation_path, headers=header))
    completion = await complete(client)
    assert refused_403(completion, openai=True)
    assert openai_error_of(completion)["type"] == "invalid_request_error"
    assert await counts(user) == (1, 0) and stub.requests == []
    assert (await Conversation.objects.aget(pk=mine.pk)).title == ""


async def test_a_v1_token_reaches_only_v1(stub: OpenAIStub) -> None:
    """A `/v1`-only token lists the models and is answered there; the JSON and SSE APIs
    refuse it 403 `not_allowed`, reads included."""
    stub.replies.append(Reply(deltas=["Bon", "jour."]))
    user = await make_user()
    mine = await make_conversation(user)
    _token, raw = await scoped_token(user, ApiToken.Scope.V1)
    client = bearer_client(raw)
    assert refused_403(await client.get("/api/conversations/"))
    assert refused_403(await client.get(f"/api/conversations/{mine.pk}/stream/"))
    assert refused_403(await post_json(client, f"/api/conversations/{mine.pk}/messages/", {}))
    assert (await client.get("/v1/models")).status_code == 200
    answered = await complete(client)
    assert answered.status_code == 200
    assert answered.json()["choices"][0]["message"]["content"] == "Bonjour."
    await wait_for(lambda: no_stream_open(user), what="the answer's follower to leave")


async def test_a_full_token_still_reaches_everything(stub: OpenAIStub) -> None:
    stub.replies.append(Reply(deltas=["Hi", "!"]))
    user = await make_user()
    mine = await make_conversation(user)
    _token, raw = await scoped_token(user, ApiToken.Scope.FULL)
    client = bearer_client(raw)
    posted = await post_json(client, f"/api/conversations/{mine.pk}/messages/", {"content": "Hi"})
    assert posted.status_code == 200
    assert "".join(chunks(await Stream(posted).rest())) == "Hi!"
    await wait_for(lambda: no_stream_open(user), what="the stream to leave")


async def test_an_expired_token_is_401_on_every_door(stub: OpenAIStub) -> None:
    """Past its expiry a token is refused as an unknown one: 401 `not_authenticated`
    on the JSON and SSE APIs, OpenAI's `invalid_api_key` on /v1; nothing is written."""
    user = await make_user()
    mine = await make_conversation(user)
    token, raw = await scoped_token(user, ApiToken.Scope.FULL, timedelta(days=7))
    assert token.expires - timezone.now() > timedelta(days=6, hours=23)
    client = bearer_client(raw)
    assert (await client.get("/api/conversations/")).status_code == 200
    await expire(token)
    listed = await client.get("/api/conversations/")
    assert listed.status_code == 401 and error_of(listed)["code"] == "not_authenticated"
    assert "expired" in error_of(listed)["message"]
    posted = await post_json(client, f"/api/conversations/{mine.pk}/messages/", {"content": "Hi"})
    assert posted.status_code == 401 and error_of(posted)["code"] == "not_authenticated"
    follow = await client.get(f"/api/conversations/{mine.pk}/stream/")
    assert follow.status_code == 401
    for response in (await client.get("/v1/models"), await complete(client)):
        assert response.status_code == 401
        assert openai_error_of(response)["code"] == "invalid_api_key"
    assert await counts(user) == (1, 0) and stub.requests == []
