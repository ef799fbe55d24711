"""Reading server-sent events from Django's AsyncClient, and the users, tokens and
clients the HTTP streaming tests share."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.test import AsyncClient

from chat.accounts import api_tokens as tokens
from chat.accounts import guards
from chat.models import ApiToken, Conversation, Message


@dataclass
class Event:
    id: str | None
    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)

    @property
    def offset(self) -> int:
        assert self.id is not None
        return int(self.id.rpartition(":")[2])


def parse_event(block: str) -> Event | None:
    """One event block (its lines, without the blank line); None for a comment."""
    fields: dict[str, list[str]] = {}
    for line in block.split("\n"):
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value.removeprefix(" "))
    if not fields:
        return None
    assert set(fields) <= {"id", "event", "data"}, f"unexpected fields in {block!r}"
    event_id = fields.get("id", [None])[-1]
    kind = fields.get("event", [None])[-1]
    return Event(event_id, kind, "\n".join(fields.get("data", [])))


class Stream:
    """The events of a streaming response, read as they come."""

    def __init__(self, response: Any) -> None:
        assert response.streaming, f"not a stream: {response.status_code} {response.content!r}"
        self.response = response
        self.content: AsyncIterator[bytes] = response.streaming_content
        self.buffer = ""
        self.events: list[Event] = []
        self.raw = b""

    async def next(self, timeout: float = 20) -> Event | None:
        """The next event; None when the response has ended."""
        async with asyncio.timeout(timeout):
            while "\n\n" not in self.buffer:
                try:
                    piece = await anext(self.content)
                except StopAsyncIteration:
                    assert not self.buffer.strip(), f"a partial event at the end: {self.buffer!r}"
                    return None
                self.raw += piece
                self.buffer += piece.decode()
            block, self.buffer = self.buffer.split("\n\n", 1)
            event = parse_event(block)
            if event is None:  # a keepalive comment
                return await self.next(timeout)
            self.events.append(event)
            return event

    async def until(self, kind: str, timeout: float = 20) -> list[Event]:
        """The events up to and including the first `kind` (by `event:`)."""
        read: list[Event] = []
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next(timeout)
                assert event is not None, f"the stream ended before a {kind!r} event"
                read.append(event)
                if event.event == kind:
                    return read

    async def rest(self, timeout: float = 20) -> list[Event]:
        """Every event until the response ends."""
        read: list[Event] = []
        async with asyncio.timeout(timeout):
            while (event := await self.next(timeout)) is not None:
                read.append(event)
        return read

    async def drop(self) -> None:
        """The client goes away mid-stream: its pending read is cancelled, as the ASGI
        handler cancels a streaming response whose client disconnected."""
        while True:
            read = asyncio.ensure_future(anext(self.content))
            await asyncio.sleep(0)  # the read runs up to where it waits for an event
            if read.done():  # an event was ready: the client never reads it
                if read.exception() is not None:
                    return
                continue
            read.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await read
            return


def chunks(events: list[Event]) -> list[str]:
    frames = [e.json() for e in events if e.event == "chunk"]
    assert [f["seq"] for f in frames] == list(range(len(frames))), "seq must be 0,1,2,…"
    return [f["text"] for f in frames]


def error_of(response: Any) -> dict[str, Any]:
    """Our JSON refusal: {"error": {"code", "message", …}}."""
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"error"} and body["error"]["message"], body
    return body["error"]


def openai_error_of(response: Any) -> dict[str, Any]:
    """OpenAI's refusal: {"error": {"message", "type", "param", "code"}}."""
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["message"] and body["error"]["type"]
    return body["error"]


async def session_client(user: Any) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


class BearerClient(AsyncClient):
    """An AsyncClient that sends `Authorization: Bearer <raw>` with every request.
    (Django 5.2's AsyncClient(headers=…) turns a default header into the ASGI header
    `http-authorization`, which no one reads: the header goes with each request.)"""

    def __init__(self, raw: str) -> None:
        super().__init__()
        self.authorization = {"authorization": f"Bearer {raw}"}

    async def get(self, path: str, *args: Any, headers: Any = None, **extra: Any) -> Any:
        headers = {**self.authorization, **(headers or {})}
        return await super().get(path, *args, headers=headers, **extra)

    async def post(self, path: str, *args: Any, headers: Any = None, **extra: Any) -> Any:
        headers = {**self.authorization, **(headers or {})}
        return await super().post(path, *args, headers=headers, **extra)


def bearer_client(raw: str) -> AsyncClient:
    return BearerClient(raw)


@database_sync_to_async
def make_token(user: Any, name: str = "script") -> tuple[ApiToken, str]:
    return tokens.token_create(user=user, name=name)


@database_sync_to_async
def revoke(token: ApiToken) -> None:
    tokens.token_revoke(token=token)


@database_sync_to_async
def messages_of(conversation_id: Any) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conversation_id).order_by("created", "pk"))


@database_sync_to_async
def conversation(conversation_id: Any) -> Conversation:
    return Conversation.objects.get(pk=conversation_id)


def no_stream_open(user: Any) -> bool:
    """The user's streams (and sockets) of this process have all left."""
    return guards._open_sockets.get(user.pk, 0) == 0


async def post_message(client: AsyncClient, conversation_id: Any, **body: Any) -> Any:
    return await client.post(
        f"/api/conversations/{conversation_id}/messages/",
        data=json.dumps(body),
        content_type="application/json",
    )
