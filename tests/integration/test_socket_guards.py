"""One socket cannot flood the server, one user cannot hold unbounded sockets, and a
session that ends (logout, password change, deactivation) closes its sockets."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client

from chat.models import Conversation, Message
from chatsite.asgi import application

from .conftest import make_conversation, make_user, open_socket, receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_layer")]


async def closed_with(ws: WebsocketCommunicator, code: int) -> bool:
    """Read frames until the close; True if it came with `code`."""
    while True:
        output = await ws.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output.get("code") == code


async def test_a_socket_that_sends_too_many_frames_is_told_and_closed(settings) -> None:
    settings.CHAT_FRAMES_PER_SECOND = 1
    settings.CHAT_FRAME_BURST = 5
    user = await make_user()
    ws = await open_socket(user, await make_conversation(user))
    assert (await receive(ws))["type"] == "history"
    for _ in range(5):
        await ws.send_to(text_data=json.dumps({"type": "ping"}))
        assert await receive(ws) == {"type": "pong"}
    await ws.send_to(text_data=json.dumps({"type": "ping"}))
    error = await receive(ws)
    assert error["type"] == "error" and error["code"] == "rate_limited"
    assert "Too many frames" in error["message"]
    assert await closed_with(ws, 1008)


async def test_a_user_cannot_hold_more_sockets_than_the_cap(settings) -> None:
    settings.CHAT_MAX_SOCKETS_PER_USER = 2
    user = await make_user()
    conversation = await make_conversation(user)
    first = await open_socket(user, conversation)
    second = await open_socket(user, conversation)
    third = await open_socket(user, conversation)
    error = await receive(third)
    assert error["code"] == "rate_limited" and "Too many open chat connections" in error["message"]
    assert await closed_with(third, 1008)
    stranger = await make_user()  # the cap is per user
    other = await open_socket(stranger, await make_conversation(stranger))
    assert (await receive(other))["type"] == "history"
    await other.disconnect()
    await first.disconnect()
    again = await open_socket(user, conversation)  # a closed socket frees its place
    assert (await receive(again))["type"] == "history"
    for ws in (second, again):
        await ws.disconnect()


@database_sync_to_async
def signed_in(name: str) -> tuple[Client, str, Conversation]:
    user = get_user_model().objects.create_user(name, password="old-pass-123456")
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    return client, cookie, Conversation.objects.create(owner=user)


async def session_socket(cookie: str, conversation: Conversation) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(
        application,
        f"/ws/chat/{conversation.pk}/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        ],
    )
    connected, _ = await ws.connect(timeout=5)
    assert connected
    assert json.loads(await ws.receive_from(timeout=5))["type"] == "history"
    return ws


async def test_logging_out_closes_that_sessions_sockets_only() -> None:
    client, cookie, conversation = await signed_in("leaver")
    other_client = Client()
    leaver = await database_sync_to_async(get_user_model().objects.get)(username="leaver")
    await database_sync_to_async(other_client.force_login)(leaver)
    other_cookie = other_client.cookies[django_settings.SESSION_COOKIE_NAME].value
    ws = await session_socket(cookie, conversation)
    other = await session_socket(other_cookie, conversation)
    response = await database_sync_to_async(client.post)("/accounts/logout/")
    assert response.status_code in (200, 302)
    assert await closed_with(ws, 4401)
    await other.send_to(text_data=json.dumps({"type": "ping"}))  # the other device stays
    assert json.loads(await other.receive_from(timeout=5)) == {"type": "pong"}
    await other.disconnect()


async def test_a_password_change_closes_the_other_sessions_sockets() -> None:
    _client, cookie, conversation = await signed_in("changer")
    ws = await session_socket(cookie, conversation)

    def change_password() -> None:
        user = get_user_model().objects.get(username="changer")
        user.set_password("new-pass-654321")
        user.save()

    await database_sync_to_async(change_password)()
    assert await closed_with(ws, 4401)


async def test_deactivating_the_account_closes_its_sockets() -> None:
    _client, cookie, conversation = await signed_in("leaving-staff")
    ws = await session_socket(cookie, conversation)

    def deactivate() -> None:
        user = get_user_model().objects.get(username="leaving-staff")
        user.is_active = False
        user.save(update_fields=["is_active"])

    await database_sync_to_async(deactivate)()
    assert await closed_with(ws, 4401)


@database_sync_to_async
def saved_messages(conversation: Conversation) -> int:
    return Message.objects.filter(conversation=conversation).count()


def user_message(content: str) -> str:
    return json.dumps({"type": "user_message", "content": content, "client_id": "late"})


async def test_a_frame_sent_right_after_logout_is_refused_before_anything_is_saved(stub) -> None:
    """The logout's POST has returned: the next frame on that session's old socket
    saves nothing, asks the model nothing, and the socket closes with 4401, whichever
    of the frame and the channel layer's `user.check` comes first."""
    client, cookie, conversation = await signed_in("late-sender")
    ws = await session_socket(cookie, conversation)
    response = await database_sync_to_async(client.post)("/accounts/logout/")
    assert response.status_code in (200, 302)
    await ws.send_to(text_data=user_message("sent after the logout"))
    assert await closed_with(ws, 4401)
    await ws.disconnect()  # returns once the consumer has handled every frame it got
    assert await saved_messages(conversation) == 0
    assert stub.requests == []


async def test_every_frame_that_acts_checks_the_session_first(stub) -> None:
    """The session row is gone (a logout elsewhere, an expired session) and no
    `user.check` is ever sent: a ping is still answered, but a message frame closes the
    socket with 4401 and saves nothing."""
    _client, cookie, conversation = await signed_in("quiet-expiry")
    ws = await session_socket(cookie, conversation)

    def drop_session() -> None:
        Session.objects.filter(session_key=cookie).delete()

    await database_sync_to_async(drop_session)()
    await ws.send_to(text_data=json.dumps({"type": "ping"}))
    assert json.loads(await ws.receive_from(timeout=5)) == {"type": "pong"}
    await ws.send_to(text_data=user_message("after the session ended"))
    assert await closed_with(ws, 4401)
    await ws.disconnect()
    assert await saved_messages(conversation) == 0
    assert stub.requests == []
