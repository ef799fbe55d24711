"""Answers as server-sent events, for scripts, voices and chat tools (docs/DESIGN.md,
"HTTP streaming").

`POST /api/conversations/<id>/messages/` sends a message and streams its answer;
`GET /api/conversations/<id>/stream/` follows the answer running now, or resumes one
after a dropped connection (`Last-Event-ID`). The answer's life is the one answer
stream's (streaming/stream/); this door only encodes its frames as events, each
with the id `<answer id>:<characters sent>`. A dropped connection does not stop it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_http_methods

from chat.accounts.guards import request_credential
from chat.conversations import selectors
from chat.db import GroupCall, db_call
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation
from chat.streaming.answer.exchanges import ExchangeRequest
from chat.streaming.delivery import driver
from chat.streaming.delivery.chunking import DEFAULT_MODE
from chat.streaming.delivery.driver import Subscription
from chat.streaming.delivery.protocol import parse_chunk_mode, parse_user_message
from chat.streaming.stream.follow import Follower, Position
from chat.streaming.stream.post import post
from chat.telemetry import startpath
from chat.transports.http.eventstream import sse_event, sse_response
from chat.transports.http.responses import read_json, refusal, request_user

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from chat.models import User

NOTHING_RUNNING = "No answer is running in this conversation."
BAD_EVENT_ID = "Last-Event-ID must be an event id of this API: <answer id>:<offset>."

Step = Callable[[Subscription], Awaitable[None]]

# The conversation each request names, read together with the others of a burst.
_conversations: GroupCall[tuple[User | AnonymousUser, str], Conversation] = GroupCall(
    selectors.conversations_of, name="conversation-reads"
)


async def _follower(
    request: HttpRequest, conversation_id: str, mode: Callable[[], Any]
) -> Follower:
    """A follower of the user's conversation, joined (it misses nothing from here), in
    the chunking mode asked for (read once the user is known); Refusal otherwise."""
    user = await request_user(request)
    if not user.is_authenticated:
        raise Refusal(ErrorCode.NOT_AUTHENTICATED, "Log in first.")
    chunk = parse_chunk_mode(mode())
    try:
        conversation = await _conversations.submit((user, conversation_id))
    except Conversation.DoesNotExist:
        raise Refusal(ErrorCode.NOT_FOUND, "No such conversation.") from None
    follower = Follower(conversation.pk, credential=request_credential(request, user), mode=chunk)
    await follower.join()
    return follower


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        return read_json(request)
    except RequestDataTooBig:
        raise Refusal(ErrorCode.TOO_LONG, "The request body is too large.") from None
    except ValueError:
        raise Refusal(ErrorCode.BAD_REQUEST, "The body must be a JSON object.") from None


@require_http_methods(["POST"])
async def api_messages(request: HttpRequest, conversation_id: str) -> HttpResponseBase:
    """Send `{"content", "chunk"?, "client_id"?}`; the answer streams back."""
    body: dict[str, Any] = {}

    def chunk() -> Any:  # the body is read once the user is known
        body.update(_body(request))
        return body.get("chunk", request.GET.get("chunk", DEFAULT_MODE))

    startpath.begin("sse")
    try:
        follower = await _follower(request, conversation_id, chunk)
    except Refusal as exc:
        return refusal(exc)
    startpath.phase("auth")
    try:
        message = parse_user_message(body)
        user = follower.credential["user"]
        asked = ExchangeRequest(
            user,
            follower.conversation_id,
            message.content,
            message.client_id,
            attachments=message.attachments,
        )
        posted = await post(asked)
    except Refusal as exc:
        await follower.leave()
        return refusal(exc)
    except BaseException:
        await follower.leave()
        raise
    if posted.answer_id is None:  # a client_id sent before: that message, no new answer
        await follower.leave()
        where = f"/api/conversations/{conversation_id}/stream/"
        sentence = f"A message with this client_id was sent before; follow its answer at {where}."
        # `sent`, not `message`: the sentence above is the error's message.
        return refusal(Refusal(ErrorCode.NOT_ALLOWED, sentence, sent=posted.frame))
    first = follower.follow_posted(posted)
    prelude = sse_event(posted.frame, Position(posted.answer_id)) if posted.frame else b""
    response = sse_response(follower, first, prelude)
    response["X-Conversation-Id"] = follower.conversation_id
    response["X-Message-Id"] = posted.answer_id
    return response


@require_http_methods(["GET"])
async def api_stream(request: HttpRequest, conversation_id: str) -> HttpResponseBase:
    """Follow the answer running now, or resume the one a `Last-Event-ID` header (or a
    `last_event_id` parameter) names, from where it left off."""
    last_event_id = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
    resume = Position.parse(last_event_id) if last_event_id else None
    try:
        if last_event_id and resume is None:
            raise Refusal(ErrorCode.BAD_REQUEST, BAD_EVENT_ID)
        chunk = request.GET.get("chunk", DEFAULT_MODE)
        follower = await _follower(request, conversation_id, lambda: chunk)
    except Refusal as exc:
        return refusal(exc)
    try:  # after the join: an answer's events after this read reach us
        message_id = resume.message_id if resume is not None else None
        answer = await db_call(driver.answer_to_follow)(follower.conversation_id, message_id)
    except BaseException:
        await follower.leave()
        raise
    if answer is None:
        await follower.leave()
        missing = "No such answer in this conversation." if resume else NOTHING_RUNNING
        return refusal(Refusal(ErrorCode.NOT_FOUND, missing))
    follower.follow(answer["id"], resume.offset if resume is not None else 0)

    async def first(subscription: Subscription) -> None:
        # The answer as saved, as a one-message history: a running one is joined (its
        # text so far from the subscriber's sync), one over is replayed from the offset.
        await subscription.step(follower.subscriber.on_history, [answer])

    return sse_response(follower, first)
