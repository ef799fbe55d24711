"""An OpenAI-compatible gateway: `GET /v1/models` and `POST /v1/chat/completions`.

Any OpenAI client, given a personal API token as its key and this server's `/v1` as
its base URL, is answered by the configured models. Each request is recorded as a
conversation of the token's user (source `openai`): its messages, then the answer,
started through the same path as the browser's (exchanges.py), so the user's rate
limit, quota and active-answer cap apply, and staff review it in the admin. The
answer is followed as any HTTP stream follows one (streams.py); a client that goes
away mid-answer stops it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from chat.conversations import services
from chat.conversations.limits import MAX_INSTRUCTIONS_CHARS
from chat.db import db_call, release_request_connection
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation
from chat.provider import llm
from chat.streaming.answer import exchanges, registry
from chat.streaming.delivery import protocol
from chat.streaming.delivery.follower import Follower
from chat.transports.openai.errors import refusal_response
from chat.transports.openai.schema import (
    BadRequest,
    CompletionRequest,
    completion,
    completion_chunk,
    finish_reason,
    model_list,
    parse_request,
    usage,
    usage_chunk,
)

logger = logging.getLogger(__name__)

OWNER = "chat-server"
NO_KEY = "Missing API key: send a personal API token as 'Authorization: Bearer <token>'."


async def _token_user(request: HttpRequest) -> Any:
    """The user of the request's Bearer token (None: no token; sessions do not count).
    The request's own database connection is given back (see db.py)."""
    token = getattr(request, "api_token", None)
    await release_request_connection()
    return token.user if token is not None else None


@csrf_exempt  # a Bearer token, never a cookie, authenticates here
@require_http_methods(["GET"])
async def models(request: HttpRequest) -> HttpResponse:
    if await _token_user(request) is None:
        return refusal_response(Refusal(ErrorCode.NOT_AUTHENTICATED, NO_KEY))
    return JsonResponse(model_list([choice["key"] for choice in llm.model_choices()], OWNER))


@csrf_exempt
@require_http_methods(["POST"])
async def chat_completions(request: HttpRequest) -> HttpResponse:
    user = await _token_user(request)
    if user is None:
        return refusal_response(Refusal(ErrorCode.NOT_AUTHENTICATED, NO_KEY))
    try:
        asked = parse_request(
            _body(request),
            max_chars=settings.CHAT_MAX_MESSAGE_CHARS,
            max_instructions=MAX_INSTRUCTIONS_CHARS,
        )
        spec = llm.resolve_model(asked.model)
    except Refusal as exc:
        return refusal_response(exc)
    except llm.UnknownModel:
        message = f"The model {asked.model[:100]!r} does not exist here; GET /v1/models lists them."
        return refusal_response(Refusal(ErrorCode.NOT_FOUND, message, param="model"))
    conversation = await db_call(services.conversation_import)(
        owner=user,
        history=asked.history,
        title=services.derive_title(asked.question),
        model=spec.key,
        instructions=asked.instructions,
        temperature=asked.temperature,
        source=Conversation.Source.OPENAI,
        api_token=request.api_token,  # type: ignore[attr-defined]
    )
    follower = Follower(conversation.pk, user_id=user.pk, mode="token")
    if not await follower.join():
        await _discard(conversation)
        return refusal_response(Refusal(ErrorCode.RATE_LIMITED, "Too many open streams."))
    try:
        posted = await exchanges.post_message(
            exchanges.ExchangeRequest(
                user=user, conversation_id=conversation.pk, content=asked.question, client_id=None
            )
        )
    except Refusal as exc:
        await follower.leave()
        await _discard(conversation)
        return refusal_response(exc)
    except BaseException:
        await follower.leave()
        raise
    assert posted.answer_id is not None
    follower.follow(posted.answer_id)
    answer = Answer(follower, posted.answer_id, spec.key, conversation.pk)
    if asked.stream:
        response = StreamingHttpResponse(answer.events(asked), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        response["X-Conversation-Id"] = str(conversation.pk)
        follower.handed_over()
        return response
    return await answer.whole()


async def _discard(conversation: Conversation) -> None:
    """A refused request leaves nothing behind: not its conversation, not the history
    it sent (a client retrying while rate limited would otherwise write it each time)."""
    await Conversation.objects.filter(pk=conversation.pk).adelete()


def _body(request: HttpRequest) -> Any:
    try:
        body = request.body
    except RequestDataTooBig:
        raise BadRequest("The request body is too large.", status=413) from None
    try:
        return protocol.loads(body)
    except ValueError:
        raise BadRequest("The body is not valid JSON.") from None


class Answer:
    """One completion: the answer followed until its end, in OpenAI's shapes."""

    def __init__(self, follower: Follower, answer_id: str, model: str, conversation_id: Any):
        self.follower = follower
        self.id = f"chatcmpl-{answer_id.replace('-', '')}"
        self.model = model
        self.conversation_id = conversation_id
        self.created = int(time.time())
        self.ended = False

    async def frames(self) -> AsyncIterator[dict[str, Any] | None]:
        """The answer's frames (None: a quiet moment); a client gone before its end
        stops it."""
        try:
            async for frame, _ in self.follower.frames():
                if frame is not None and frame["type"] == "end":
                    self.ended = True
                yield frame
        finally:
            if not self.ended:
                await asyncio.shield(self._stop())

    async def _stop(self) -> None:
        try:
            await registry.request_stop(self.follower.layer, self.conversation_id)
        except Exception:
            logger.warning("could not stop %s after its client left", self.id, exc_info=True)

    async def events(self, asked: CompletionRequest) -> AsyncIterator[bytes]:
        yield self._data(completion_chunk(self.id, self.created, self.model, _first_delta()))
        error = None
        async for frame in self.frames():
            if frame is None:
                yield b": keepalive\n\n"
            elif frame["type"] == "chunk":
                delta = {"content": frame["text"]}
                yield self._data(completion_chunk(self.id, self.created, self.model, delta))
            elif frame["type"] == "error":
                error = frame
            elif frame["type"] == "end":
                if error is not None or frame["status"] == "error":
                    yield self._data({"error": _answer_error(error or frame)})
                    return
                finish = finish_reason(frame)
                yield self._data(completion_chunk(self.id, self.created, self.model, {}, finish))
                if asked.include_usage:
                    tokens = usage(frame["usage"])
                    yield self._data(usage_chunk(self.id, self.created, self.model, tokens))
        if not self.ended:  # the stream failed before the answer's end
            yield self._data({"error": _answer_error(error or {})})
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
                    return JsonResponse({"error": _answer_error(error or frame)}, status=502)
                body = completion(
                    self.id,
                    self.created,
                    self.model,
                    "".join(text),
                    finish_reason(frame),
                    usage(frame["usage"]),
                )
                response = JsonResponse(body)
                response["X-Conversation-Id"] = str(self.conversation_id)
                return response
        return JsonResponse({"error": _answer_error(error or {})}, status=502)

    @staticmethod
    def _data(payload: dict[str, Any]) -> bytes:
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def _first_delta() -> dict[str, Any]:
    return {"role": "assistant", "content": ""}


def _answer_error(frame: dict[str, Any]) -> dict[str, Any]:
    """An answer that failed, as OpenAI's error object."""
    return {
        "message": frame.get("message") or frame.get("error") or "The model failed.",
        "type": "server_error",
        "param": None,
        "code": frame.get("code") or frame.get("error_code") or ErrorCode.MODEL_ERROR,
    }
