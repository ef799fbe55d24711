"""Server-sent events on the wire: one frame an event, with the id a client resumes
from, and a comment line now and then so that proxies keep a quiet stream open."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from django.http import StreamingHttpResponse

from chat.streaming.delivery.driver import Subscription
from chat.streaming.stream.follow import Follower, Position

KEEPALIVE = b": keepalive\n\n"

Step = Callable[[Subscription], Awaitable[None]]


def sse_event(frame: dict[str, Any], position: Position | None) -> bytes:
    """One event: `id` (where a reconnect resumes), `event` (the frame's type) and the
    frame as one line of JSON."""
    head = f"id: {position}\n" if position is not None else ""
    data = json.dumps(frame, ensure_ascii=False)
    return f"{head}event: {frame['type']}\ndata: {data}\n\n".encode()


async def event_stream(
    follower: Follower, first: Step | None, prelude: bytes
) -> AsyncIterator[bytes]:
    yield prelude
    async for frame, position in follower.frames(first):
        yield KEEPALIVE if frame is None else sse_event(frame, position)


def sse_response(
    follower: Follower, first: Step | None = None, prelude: bytes = b""
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        event_stream(follower, first, prelude), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx passes each event on at once
    follower.handed_over()
    return response
