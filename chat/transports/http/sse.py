"""Answers as server-sent events, for scripts, voices and chat tools (docs/DESIGN.md,
"HTTP streaming").

`POST /api/conversations/<id>/messages/` sends a message and streams its answer;
`GET /api/conversations/<id>/stream/` follows the answer running now, or resumes one
after a dropped connection (`Last-Event-ID`). The events are the WebSocket's frames
(`message`, `start`, `chunk`, `error`, `end`), chunked as the request asks, each with
the event id `<answer id>:<characters sent>` (streams.Position). A dropped
connection does not stop the answer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_http_methods

from chat import contract
from chat.conversations import selectors, serializers
from chat.db import db_call
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation
from chat.streaming.answer import exchanges
from chat.streaming.delivery.chunking import DEFAULT_MODE
from chat.streaming.delivery.driver import Subscription
from chat.streaming.delivery.follower import Follower, Position
from chat.streaming.delivery.protocol import parse_chunk_mode, parse_user_message
from chat.transports.http.responses import json_error, read_json, refusal, request_user

KEEPALIVE = b": keepalive\n\n"
TOO_MANY_STREAMS = "Too many open chat connections and streams. Close one and retry."
NOTHING_RUNNING = "No answer is running in this conversation."

Step = Callable[[Subscription], Awaitable[None]]


def sse_event(frame: dict[str, Any], position: Position | None) -> bytes:
    """One event: `id` (where a reconnect resumes), `event` (the frame's type) and the
    frame as one line of JSON."""
    head = f"id: {position}\n" if position is not None else ""
    data = json.dumps(frame, ensure_ascii=False)
    return f"{head}event: {frame['type']}\ndata: {data}\n\n".encode()


async def event_stream(
    follower: Follower, first: Step | None, prelude: list[bytes]
) -> AsyncIterator[bytes]:
    for event in prelude:
        yield event
    async for frame, position in follower.frames(first):
        yield KEEPALIVE if frame is None else sse_event(frame, position)


def sse_response(
    follower: Follower, first: Step | None = None, prelude: list[bytes] | None = None
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        event_stream(follower, first, prelude or []), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx passes each event on at once
    follower.handed_over()
    return response


async def _conversation_and_mode(
    request: HttpRequest, conversation_id: str, chunk: Callable[[], Any]
) -> tuple[Any, Conversation | None, str | HttpResponse]:
    """The user, their conversation and the chunking mode asked for (`chunk()`, read
    once the user is known), or the error to answer."""
    user = await request_user(request)
    if not user.is_authenticated:
        return user, None, json_error(401, ErrorCode.NOT_AUTHENTICATED, "Log in first.")
    try:
        mode = parse_chunk_mode(chunk())
    except Refusal as exc:
        return user, None, refusal(exc)
    try:
        get = db_call(selectors.conversation_get)
        conversation = await get(user=user, conversation_id=conversation_id)
    except Conversation.DoesNotExist:
        return user, None, json_error(404, ErrorCode.NOT_FOUND, "No such conversation.")
    return user, conversation, mode


class BadBody(Exception):
    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        return read_json(request)
    except RequestDataTooBig:
        raise BadBody(
            json_error(413, ErrorCode.TOO_LONG, "The request body is too large.")
        ) from None
    except ValueError:
        message = "The body must be a JSON object."
        raise BadBody(json_error(400, ErrorCode.BAD_REQUEST, message)) from None


@require_http_methods(["POST"])
async def api_messages(request: HttpRequest, conversation_id: str) -> HttpResponse:
    """Send `{"content", "chunk"?, "client_id"?}`; the answer streams back."""
    body: dict[str, Any] = {}

    def chunk() -> Any:  # the body is read once the user is known
        body.update(_body(request))
        return body.get("chunk", request.GET.get("chunk", DEFAULT_MODE))

    try:
        user, conversation, mode = await _conversation_and_mode(request, conversation_id, chunk)
    except BadBody as exc:
        return exc.response
    if conversation is None:
        return mode  # type: ignore[return-value]
    data = body
    try:
        message = parse_user_message(data)
    except Refusal as exc:
        return refusal(exc)
    follower = Follower(conversation.pk, user_id=user.pk, mode=str(mode))
    if not await follower.join():  # before the answer starts: it misses nothing
        return json_error(429, ErrorCode.RATE_LIMITED, TOO_MANY_STREAMS)
    try:
        posted = await exchanges.post_message(
            exchanges.ExchangeRequest(
                user=user,
                conversation_id=conversation.pk,
                content=message.content,
                client_id=message.client_id,
            )
        )
    except Refusal as exc:
        await follower.leave()
        return refusal(exc)
    except BaseException:
        await follower.leave()
        raise
    if posted.answer_id is None:  # a client_id sent before: that message, no new answer
        await follower.leave()
        return json_error(
            409,
            ErrorCode.NOT_ALLOWED,
            "A message with this client_id was sent before; follow its answer at "
            f"/api/conversations/{conversation.pk}/stream/.",
            sent=posted.frame,  # not `message`: the sentence above is the error's message
        )
    follower.follow(posted.answer_id)
    first = None
    if not posted.announced:  # the channel layer failed: watch the saved answer
        start = contract.chat_start(posted.answer_id, posted.model)

        async def first(subscription: Subscription) -> None:
            await subscription.step(follower.subscriber.on_event, start)

    prelude = [sse_event(posted.frame, Position(posted.answer_id))] if posted.frame else []
    response = sse_response(follower, first, prelude)
    response["X-Conversation-Id"] = str(conversation.pk)
    response["X-Message-Id"] = posted.answer_id
    return response


@require_http_methods(["GET"])
async def api_stream(request: HttpRequest, conversation_id: str) -> HttpResponse:
    """Follow the answer running now, or resume the one a `Last-Event-ID` header (or a
    `last_event_id` parameter) names, from where it left off."""
    resume = None
    last_event_id = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
    if last_event_id:
        resume = Position.parse(last_event_id)
        if resume is None:
            message = "Last-Event-ID must be an event id of this API: <answer id>:<offset>."
            return json_error(400, ErrorCode.BAD_REQUEST, message)
    chunk = request.GET.get("chunk", DEFAULT_MODE)
    user, conversation, mode = await _conversation_and_mode(request, conversation_id, lambda: chunk)
    if conversation is None:
        return mode  # type: ignore[return-value]
    follower = Follower(conversation.pk, user_id=user.pk, mode=str(mode))
    if not await follower.join():  # before the read: an answer's events after it reach us
        return json_error(429, ErrorCode.RATE_LIMITED, TOO_MANY_STREAMS)
    try:
        answer = await db_call(_answer_dict)(conversation.pk, resume)
    except BaseException:
        await follower.leave()
        raise
    if answer is None:
        await follower.leave()
        if resume is not None:
            return json_error(404, ErrorCode.NOT_FOUND, "No such answer in this conversation.")
        return json_error(404, ErrorCode.NOT_FOUND, NOTHING_RUNNING)
    follower.follow(answer["id"], resume.offset if resume is not None else 0)

    async def first(subscription: Subscription) -> None:
        # The answer as saved, as a one-message history: a running one is joined (its
        # text so far from the subscriber's sync), one over is replayed from the offset.
        await subscription.step(follower.subscriber.on_history, [answer])

    return sse_response(follower, first)


def _answer_dict(conversation_id: Any, resume: Position | None) -> dict[str, Any] | None:
    message_id = resume.message_id if resume is not None else None
    answer = selectors.answer_to_follow(conversation_id=conversation_id, message_id=message_id)
    return serializers.message_to_dict(answer) if answer is not None else None
