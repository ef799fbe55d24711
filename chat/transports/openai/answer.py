"""One completion in OpenAI's shapes: the answer stream's frames as `chat.completion`
chunks (stream: true) or one `chat.completion` object."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from django.conf import settings
from django.http import JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from chat.errors import ErrorCode
from chat.streaming.delivery.driver import Subscription
from chat.streaming.stream.follow import Follower
from chat.transports.openai.errors import OpenAIType
from chat.transports.openai.schema import (
    CompletionRequest,
    completion,
    completion_chunk,
    finish_reason,
    usage,
    usage_chunk,
)

Frame = dict[str, Any]
Step = Callable[[Subscription], Awaitable[None]]


class Answer:
    """The answer `follower` follows, until its end (a client gone before it stops it:
    the follower's OnLeave.STOP)."""

    def __init__(
        self, follower: Follower, answer_id: str, model: str, *, first: Step | None
    ) -> None:
        self.follower = follower
        self.first = first
        self.id = f"chatcmpl-{answer_id.replace('-', '')}"
        self.model = model
        self.created = int(time.time())

    async def frames(self) -> AsyncGenerator[Frame | None, None]:
        """The answer's frames (None: a quiet moment)."""
        async for frame, _ in self.follower.frames(self.first):
            yield frame

    def _chunk(self, delta: Frame, finish: str | None = None) -> bytes:
        return data(completion_chunk(self.id, self.created, self.model, delta, finish))

    async def events(self, asked: CompletionRequest) -> AsyncIterator[bytes]:
        yield self._chunk({"role": "assistant", "content": ""})
        error = None
        async for frame in self.frames():
            if frame is None:
                yield b": keepalive\n\n"
            elif frame["type"] == "chunk":
                yield self._chunk({"content": frame["text"]})
            elif frame["type"] == "error":
                error = frame
            elif frame["type"] == "end":
                if error is not None or frame["status"] == "error":
                    yield data({"error": answer_error(error or frame)})
                    return
                yield self._chunk({}, finish_reason(frame))
                if asked.include_usage:
                    tokens = usage(frame["usage"])
                    yield data(usage_chunk(self.id, self.created, self.model, tokens))
        if not self.follower.ended:  # the stream failed before the answer's end
            yield data({"error": answer_error(error or {})})
            return
        yield b"data: [DONE]\n\n"

    async def whole(self) -> HttpResponseBase:
        """The answer as one `chat.completion`: a JSON response (502: it failed) when it
        ends within CHAT_API_HEARTBEAT_SECONDS, else sent as it goes: a space every
        CHAT_API_HEARTBEAT_SECONDS, then the JSON (JSON allows whitespace before a value,
        and OpenAI's clients read it so), so that no proxy or client times out on a
        silent connection. Its status is then 200 whatever follows: a failure is the
        body's `error`, as in a stream."""
        frames = self.frames()
        body = Whole(self)
        began = time.monotonic()
        async for frame in frames:
            if body.add(frame):
                await frames.aclose()  # the follower leaves now
                break
            if frame is None or time.monotonic() - began >= settings.CHAT_API_HEARTBEAT_SECONDS:
                response = StreamingHttpResponse(
                    self._beating(frames, body), content_type="application/json"
                )
                response["X-Accel-Buffering"] = "no"
                return response
        status, payload = body.result()
        return JsonResponse(payload, status=status)

    async def _beating(
        self, frames: AsyncGenerator[Frame | None, None], body: Whole
    ) -> AsyncIterator[bytes]:
        """A space now and every CHAT_API_HEARTBEAT_SECONDS, then the body."""
        async with aclosing(frames):
            yield b" "
            last = time.monotonic()
            async for frame in frames:
                if body.add(frame):
                    break
                if frame is None or time.monotonic() - last >= settings.CHAT_API_HEARTBEAT_SECONDS:
                    yield b" "
                    last = time.monotonic()
        yield json.dumps(body.result()[1], ensure_ascii=False).encode()


class Whole:
    """A non-streamed answer's text, collected from its frames until its end."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.text: list[str] = []
        self.error: Frame | None = None
        self.end: Frame | None = None

    def add(self, frame: Frame | None) -> bool:
        """Take one frame; True at the answer's end."""
        if frame is None:
            return False
        if frame["type"] == "chunk":
            self.text.append(frame["text"])
        elif frame["type"] == "error":
            self.error = frame
        elif frame["type"] == "end":
            self.end = frame
            return True
        return False

    def result(self) -> tuple[int, Frame]:
        """The HTTP status and the body: the completion, or the error (502) of an answer
        that failed or whose stream broke before its end."""
        end = self.end
        if end is None or self.error is not None or end["status"] == "error":
            return 502, {"error": answer_error(self.error or end or {})}
        answer = self.answer
        body = completion(
            answer.id,
            answer.created,
            answer.model,
            "".join(self.text),
            finish_reason(end),
            usage(end["usage"]),
        )
        return 200, body


def data(payload: Frame) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def answer_error(frame: Frame) -> Frame:
    """An answer that failed, as OpenAI's error object."""
    return {
        "message": frame.get("message") or frame.get("error") or "The model failed.",
        "type": OpenAIType.SERVER_ERROR,
        "param": None,
        "code": frame.get("code") or frame.get("error_code") or ErrorCode.MODEL_ERROR,
    }
