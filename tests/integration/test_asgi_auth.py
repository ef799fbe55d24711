"""The full ASGI stack: origin check, session authentication, close codes."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from chat.models import Conversation
from chatsite.asgi import application

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]


@database_sync_to_async
def session_for_new_user() -> tuple[str, Conversation]:
    user = get_user_model().objects.create_user("carol", password="secret-pass-123")
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value, Conversation.objects.create(
        owner=user
    )


def socket(
    path: str, cookie: str | None = None, origin: bytes = b"http://localhost"
) -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def test_not_logged_in_is_closed_with_4401() -> None:
    _, conversation = await session_for_new_user()
    ws = socket(f"/ws/chat/{conversation.pk}/")
    connected, _ = await ws.connect()
    assert connected
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}


async def test_session_cookie_authenticates_the_owner() -> None:
    cookie, conversation = await session_for_new_user()
    ws = socket(f"/ws/chat/{conversation.pk}/?chunk=line", cookie)
    connected, _ = await ws.connect()
    assert connected
    history = json.loads(await ws.receive_from(timeout=5))
    assert history["type"] == "history" and history["chunking"] == "line"
    await ws.disconnect()


async def test_foreign_origin_is_rejected() -> None:
    cookie, conversation = await session_for_new_user()
    ws = socket(f"/ws/chat/{conversation.pk}/", cookie, origin=b"http://evil.example")
    connected, _ = await ws.connect()
    assert not connected


async def test_http_still_served_by_django() -> None:
    response = await database_sync_to_async(Client().get)("/accounts/login/")
    assert response.status_code == 200
