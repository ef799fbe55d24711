"""API tokens on WebSockets, through the real chatsite.asgi.application: a script's
handshake (Bearer header, no Origin, no cookie) is served, checked and closed as a
browser's is; and the middleware's async path on HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from chat.accounts import api_tokens as tokens
from chat.edge.middleware import BearerTokenMiddleware
from chat.models import ApiToken, Message
from chatsite.asgi import application

from .conftest import make_conversation, make_user

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]

create_token = database_sync_to_async(tokens.token_create)


async def new_token(user) -> str:
    _token, raw = await create_token(user=user, name="script")
    return raw


def token_socket(path: str, raw: str, origin: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"host", b"localhost"), (b"authorization", f"Bearer {raw}".encode())]
    if origin is not None:
        headers.append((b"origin", origin))
    return WebsocketCommunicator(application, path, headers=headers)


async def close_code(ws: WebsocketCommunicator) -> int | None:
    """Read frames until the close; its code."""
    while True:
        output = await ws.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output.get("code")


async def test_a_token_socket_without_origin_is_served_its_own_conversation() -> None:
    user = await make_user()
    conversation = await make_conversation(user)
    ws = token_socket(f"/ws/chat/{conversation.pk}/?chunk=sentence", await new_token(user))
    connected, _ = await ws.connect(timeout=5)
    assert connected
    history = json.loads(await ws.receive_from(timeout=5))
    assert history["type"] == "history" and history["chunking"] == "sentence"
    assert history["conversation"]["id"] == str(conversation.pk)
    await ws.send_to(text_data=json.dumps({"type": "ping"}))
    assert json.loads(await ws.receive_from(timeout=5)) == {"type": "pong"}
    await ws.disconnect()


async def test_a_token_socket_for_another_users_conversation_is_4403() -> None:
    user, stranger = await make_user(), await make_user()
    theirs = await make_conversation(stranger)
    ws = token_socket(f"/ws/chat/{theirs.pk}/", await new_token(user))
    connected, _ = await ws.connect(timeout=5)
    assert connected
    assert await close_code(ws) == 4403


@pytest.mark.parametrize("kind", ["unknown", "revoked", "malformed"])
async def test_a_bad_token_socket_is_4401(kind: str) -> None:
    user = await make_user()
    conversation = await make_conversation(user)
    token, raw = await create_token(user=user, name="script")
    if kind == "revoked":
        await database_sync_to_async(tokens.token_revoke)(token=token)
    raw = {"unknown": "chat_" + "B" * 43, "revoked": raw, "malformed": "nope"}[kind]
    ws = token_socket(f"/ws/chat/{conversation.pk}/", raw)
    connected, _ = await ws.connect(timeout=5)
    assert connected
    assert await close_code(ws) == 4401


async def test_a_token_handshake_with_a_foreign_origin_is_refused() -> None:
    user = await make_user()
    conversation = await make_conversation(user)
    raw = await new_token(user)
    refused = token_socket(f"/ws/chat/{conversation.pk}/", raw, origin=b"http://evil.example")
    connected, _ = await refused.connect(timeout=5)
    assert not connected
    # The site's own origin passes the check, and the token signs the socket in.
    own = token_socket(f"/ws/chat/{conversation.pk}/", raw, origin=b"http://localhost")
    connected, _ = await own.connect(timeout=5)
    assert connected
    assert json.loads(await own.receive_from(timeout=5))["type"] == "history"
    await own.disconnect()


async def test_revoking_the_token_closes_its_open_socket_with_4401() -> None:
    user = await make_user()
    conversation = await make_conversation(user)
    token, raw = await create_token(user=user, name="script")
    other_raw = await new_token(user)
    ws = token_socket(f"/ws/chat/{conversation.pk}/", raw)
    other = token_socket(f"/ws/chat/{conversation.pk}/", other_raw)
    for socket in (ws, other):
        connected, _ = await socket.connect(timeout=5)
        assert connected
        assert json.loads(await socket.receive_from(timeout=5))["type"] == "history"
    await database_sync_to_async(tokens.token_revoke)(token=token)
    assert await close_code(ws) == 4401
    await other.send_to(text_data=json.dumps({"type": "ping"}))  # another token stays
    assert json.loads(await other.receive_from(timeout=5)) == {"type": "pong"}
    await other.disconnect()


async def test_deactivating_the_user_closes_token_sockets() -> None:
    user = await make_user()
    conversation = await make_conversation(user)
    ws = token_socket(f"/ws/chat/{conversation.pk}/", await new_token(user))
    connected, _ = await ws.connect(timeout=5)
    assert connected
    assert json.loads(await ws.receive_from(timeout=5))["type"] == "history"

    def deactivate() -> None:
        user.is_active = False
        user.save()

    await database_sync_to_async(deactivate)()
    assert await close_code(ws) == 4401


async def test_a_token_cannot_open_a_staff_tail() -> None:
    staff = await make_user()

    def promote() -> None:
        staff.is_staff = staff.is_superuser = True
        staff.save()

    await database_sync_to_async(promote)()
    conversation = await make_conversation(await make_user())
    ws = token_socket(f"/ws/admin/tail/{conversation.pk}/", await new_token(staff))
    connected, _ = await ws.connect(timeout=5)
    assert connected
    assert await close_code(ws) == 4403


async def test_the_http_middleware_in_async_mode() -> None:
    user = await make_user()
    raw = await new_token(user)
    seen = []

    async def view(request) -> HttpResponse:
        seen.append((request.user, await request.auser(), request.api_token.name))
        return HttpResponse()

    middleware = BearerTokenMiddleware(view)
    ok = RequestFactory().post("/api/conversations/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert (await middleware(ok)).status_code == 200
    assert seen == [(user, user, "script")] and ok._dont_enforce_csrf_checks
    bad = RequestFactory().get("/v1/models", HTTP_AUTHORIZATION="Bearer chat_" + "C" * 43)
    response = await middleware(bad)
    assert response.status_code == 401
    assert json.loads(response.content)["error"]["code"] == "invalid_api_key"
    assert len(seen) == 1


@database_sync_to_async
def saved_messages(conversation) -> int:
    return Message.objects.filter(conversation=conversation).count()


async def opened(ws: WebsocketCommunicator) -> WebsocketCommunicator:
    connected, _ = await ws.connect(timeout=5)
    assert connected
    assert json.loads(await ws.receive_from(timeout=5))["type"] == "history"
    return ws


def user_message(content: str) -> str:
    return json.dumps({"type": "user_message", "content": content, "client_id": "late"})


async def test_a_frame_sent_right_after_the_token_is_revoked_saves_nothing(stub) -> None:
    """The revocation has returned: the next frame on the token's socket saves nothing,
    asks the model nothing, and the socket closes with 4401."""
    user = await make_user()
    conversation = await make_conversation(user)
    token, raw = await create_token(user=user, name="script")
    ws = await opened(token_socket(f"/ws/chat/{conversation.pk}/", raw))
    await database_sync_to_async(tokens.token_revoke)(token=token)
    await ws.send_to(text_data=user_message("sent after the revocation"))
    assert await close_code(ws) == 4401
    await ws.disconnect()  # returns once the consumer has handled every frame it got
    assert await saved_messages(conversation) == 0
    assert stub.requests == []


async def test_a_frame_after_the_token_expired_closes_its_socket(stub) -> None:
    """A token's expiry sends no event: its open socket ends (4401) on its next frame
    that acts, and nothing of that frame is saved; a ping before it is still answered."""
    user = await make_user()
    conversation = await make_conversation(user)
    token, raw = await create_token(user=user, name="script", lifetime=timedelta(days=7))
    ws = await opened(token_socket(f"/ws/chat/{conversation.pk}/", raw))

    def expire() -> None:
        ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now())

    await database_sync_to_async(expire)()
    await ws.send_to(text_data=json.dumps({"type": "ping"}))
    assert json.loads(await ws.receive_from(timeout=5)) == {"type": "pong"}
    await ws.send_to(text_data=user_message("sent after the expiry"))
    assert await close_code(ws) == 4401
    await ws.disconnect()
    assert await saved_messages(conversation) == 0
    assert stub.requests == []
    again = token_socket(f"/ws/chat/{conversation.pk}/", raw)  # and no new socket opens
    connected, _ = await again.connect(timeout=5)
    assert connected and await close_code(again) == 4401


async def test_a_read_only_token_socket_reads_but_starts_nothing(stub) -> None:
    """A read-only token's socket gets the history, pongs and older pages; every frame
    that starts or changes something is refused `not_allowed` (403) and the socket
    stays open; nothing is saved and the model is not asked."""
    user = await make_user()
    conversation = await make_conversation(user)
    _token, raw = await create_token(user=user, name="reader", scope=ApiToken.Scope.READ)
    ws = await opened(token_socket(f"/ws/chat/{conversation.pk}/", raw))
    refused_frames = [
        {"type": "user_message", "content": "Hi", "client_id": "c-1"},
        {"type": "stop"},
        {"type": "regenerate", "message_id": "00000000-0000-0000-0000-000000000000"},
        {"type": "continue", "message_id": "00000000-0000-0000-0000-000000000000"},
        {"type": "switch", "message_id": "00000000-0000-0000-0000-000000000000"},
        {"type": "edit", "message_id": "00000000-0000-0000-0000-000000000000", "content": "x"},
    ]
    for frame in refused_frames:
        await ws.send_to(text_data=json.dumps(frame))
        error = json.loads(await ws.receive_from(timeout=5))
        assert (error["type"], error["code"]) == ("error", "not_allowed"), frame
        assert "read-only" in error["message"]
    await ws.send_to(text_data=json.dumps({"type": "ping"}))
    assert json.loads(await ws.receive_from(timeout=5)) == {"type": "pong"}
    await ws.disconnect()
    assert await saved_messages(conversation) == 0
    assert stub.requests == []


async def test_a_v1_token_cannot_open_a_chat_socket() -> None:
    user = await make_user()
    conversation = await make_conversation(user)
    _token, raw = await create_token(user=user, name="gateway", scope=ApiToken.Scope.V1)
    ws = token_socket(f"/ws/chat/{conversation.pk}/", raw)
    connected, _ = await ws.connect(timeout=5)
    assert connected
    error = json.loads(await ws.receive_from(timeout=5))
    assert (error["type"], error["code"]) == ("error", "not_allowed")
    assert await close_code(ws) == 4403


async def test_a_token_socket_records_the_clients_address() -> None:
    user = await make_user()
    conversation = await make_conversation(user)
    token, raw = await create_token(user=user, name="script")
    ws = token_socket(f"/ws/chat/{conversation.pk}/", raw)
    ws.scope["client"] = ("198.51.100.7", 50000)
    await opened(ws)
    await ws.disconnect()
    used = await database_sync_to_async(ApiToken.objects.get)(pk=token.pk)
    assert used.last_used is not None and used.last_used_ip == "198.51.100.7"
