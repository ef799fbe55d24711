"""The admin through the project's real ASGI application (chatsite.asgi), as Daphne
serves it: exports stream on the event loop, and a delete stops a running answer."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import secrets
import warnings
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client

from chat.models import AuditEvent, Conversation, Message
from chat.streaming.answer import registry

from .conftest import open_chat, receive_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

CHANGELIST = "/admin/chat/conversation/"


@pytest.fixture(autouse=True)
async def close_thread_connections() -> AsyncIterator[None]:
    """Connections opened by sync_to_async on asgiref's thread go back at the end, or
    PostgreSQL cannot drop the test database."""
    yield
    await sync_to_async(connections.close_all)()


class AsgiResponse:
    def __init__(self, status: int, headers: dict[str, str], bodies: list[bytes]) -> None:
        self.status, self.headers, self.bodies = status, headers, bodies

    @property
    def body(self) -> bytes:
        return b"".join(self.bodies)


async def asgi_post(path: str, form: dict[str, Any], cookies: dict[str, str]) -> AsgiResponse:
    """One POST through chatsite.asgi.application, CSRF token and all; collects the
    response's `http.response.body` messages as the server would send them."""
    from chatsite.asgi import application

    csrf = secrets.token_hex(16)  # 32 characters: a valid CSRF secret and token
    body = urlencode({**form, "csrfmiddlewaretoken": csrf}, doseq=True).encode()
    cookie = "; ".join(f"{k}={v}" for k, v in {**cookies, settings.CSRF_COOKIE_NAME: csrf}.items())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
            (b"cookie", cookie.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    requested = False
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()  # the client stays connected until the response ends
        return {"type": "http.disconnect"}

    start: dict[str, Any] = {}
    bodies: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message.get("body"):
            bodies.append(message["body"])
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    await asyncio.wait_for(application(scope, receive, send), timeout=60)
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return AsgiResponse(start["status"], headers, bodies)


@sync_to_async
def staff_cookies(*, superuser: bool = True) -> tuple[Any, dict[str, str]]:
    users = get_user_model().objects
    name = f"staff-{secrets.token_hex(4)}"
    if superuser:
        user = users.create_superuser(name, password="pw-staff-123")
    else:
        user = users.create_user(name, password="pw-staff-123", is_staff=True)
    client = Client()
    client.force_login(user)
    return user, {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


@sync_to_async
def bulk_conversations(owner: Any, count: int, per_conversation: int) -> list[Any]:
    items = Conversation.objects.bulk_create(
        Conversation(owner=owner, title=f"asgi {i}") for i in range(count)
    )
    Message.objects.bulk_create(
        Message(conversation=c, role="user", content=f"-{i}-{n} " + "x" * 200)
        for i, c in enumerate(items)
        for n in range(per_conversation)
    )
    return [c.pk for c in items]


async def test_exports_stream_from_the_event_loop_under_asgi() -> None:
    """Under the real ASGI app the CSV export arrives as many body messages, read a
    chunk of rows at a time on the request's connection, with no warning that Django
    had to drain a sync iterator in a thread."""
    user, cookies = await staff_cookies()
    ids = await bulk_conversations(user, count=5, per_conversation=1000)
    form = {"action": "export_csv", "_selected_action": [str(pk) for pk in ids]}
    with warnings.catch_warnings():
        # Django's warning when it drains a sync iterator in a thread fails the test.
        warnings.filterwarnings("error", message="StreamingHttpResponse must consume")
        response = await asgi_post(CHANGELIST, form, cookies)
    assert response.status == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert len(response.bodies) > 10  # streamed in pieces, not one body
    rows = list(csv.DictReader(io.StringIO(response.body.decode("utf-8-sig"))))
    assert len(rows) == 5000
    assert rows[0]["content"].startswith("'-0-0 ")  # neutralised on the way out too
    audited = await sync_to_async(AuditEvent.objects.filter(action="export_csv").count)()
    assert audited == 5


@database_sync_to_async
def audit_rows() -> list[tuple]:
    return list(AuditEvent.objects.values_list("actor_name", "action", "conversation_id"))


@database_sync_to_async
def left_behind(conversation_id: Any) -> tuple[bool, int, int]:
    """(conversation exists, its messages, answers still `streaming` anywhere)."""
    return (
        Conversation.objects.filter(pk=conversation_id).exists(),
        Message.objects.filter(conversation_id=conversation_id).count(),
        Message.objects.filter(status=Message.Status.STREAMING).count(),
    )


@pytest.mark.usefixtures("redis_layer")
@pytest.mark.parametrize("how", ["change page", "bulk action"])
async def test_deleting_from_the_admin_stops_the_running_answer(settings, how: str) -> None:
    """A superuser deletes a conversation while its answer streams: the answer is told
    to stop (the user's tab sees it end `stopped`), its task ends, nothing is left
    streaming, the conversation is gone and the delete is audited."""
    settings.DEMO_TOKEN_DELAY_MS = 40
    _user, conversation, ws = await open_chat()
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": "Delete me"}))
    started = await receive_until(ws, "start")
    answer_id = started[-1]["message_id"]
    assert answer_id in registry._running  # the answer is running in this process
    staff, cookies = await staff_cookies()
    if how == "change page":
        path, form = f"{CHANGELIST}{conversation.pk}/delete/", {"post": "yes"}
    else:
        path = CHANGELIST
        form = {"action": "delete_selected", "_selected_action": [str(conversation.pk)]}
        form["post"] = "yes"
    response = await asgi_post(path, form, cookies)
    assert response.status == 302, response.body[:500]
    frames = await receive_until(ws, "end")
    assert frames[-1]["message_id"] == answer_id and frames[-1]["status"] == "stopped"
    await registry.wait_for_answers(timeout=10)
    assert answer_id not in registry._running and not registry._running
    assert await left_behind(conversation.pk) == (False, 0, 0)
    assert await audit_rows() == [(staff.get_username(), "delete", conversation.pk)]
    await ws.disconnect()
