"""One completion in OpenAI's shapes: the answer stream's frames as `chat.completion`
chunks (stream: true) or one `chat.completion` object."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from django.http import HttpResponse, JsonResponse

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

    async def frames(self) -> AsyncIterator[Frame | None]:
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

    async def whole(self) -> HttpResponse:
        text: list[str] = []
        error = None
        async for frame in self.frames():
            if frame is None:
                continue
            if frame["type"] == "chunk":
                text.append(frame["text"])
            elif frame["type"] == "error":
                error = frame
            elif frame["type"] == "end":
                if error is not None or frame["status"] == "error":
                    return JsonResponse({"error": answer_error(error or frame)}, status=502)
                body = completion(
                    self.id,
                    self.created,
                    self.model,
                    "".join(text),
                    finish_reason(frame),
                    usage(frame["usage"]),
                )
                return JsonResponse(body)
        return JsonResponse({"error": answer_error(error or {})}, status=502)


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
