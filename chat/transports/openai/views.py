"""An OpenAI-compatible gateway: `GET /v1/models` and `POST /v1/chat/completions`.

Any OpenAI client, given a personal API token as its key and this server's `/v1` as
its base URL, is answered by the configured models. Each request is recorded as a
conversation of the token's user (source `openai`), admitted by the same limits as
the browser's before anything of it is written; a request that continues an earlier
one of the same token (a client resends the whole history every turn) adds only its
new question to that conversation. The answer is the one answer stream
(streaming/stream/); a client that goes away mid-answer stops it (OnLeave.STOP).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from chat.accounts.guards import request_credential
from chat.conversations import attachments
from chat.conversations.limits import MAX_INSTRUCTIONS_CHARS
from chat.db import db_call, release_request_connection
from chat.errors import ErrorCode, Refusal
from chat.models import ApiToken, Attachment
from chat.provider import llm
from chat.streaming.delivery import protocol
from chat.streaming.stream.post import OnLeave
from chat.streaming.stream.turns import Turn, TurnSettings, post_turn
from chat.telemetry import startpath
from chat.transports.openai.answer import Answer
from chat.transports.openai.errors import refusal_response
from chat.transports.openai.schema import BadRequest, model_list, parse_request

OWNER = "chat-server"
NO_KEY = "Missing API key: send a personal API token as 'Authorization: Bearer <token>'."
NO_MODEL = "The model {!r} does not exist here; GET /v1/models lists them."


async def _token(request: HttpRequest) -> ApiToken:
    """The request's Bearer token (sessions do not count here); its own database
    connection is given back (see db.py)."""
    token: ApiToken | None = getattr(request, "api_token", None)
    await release_request_connection()
    if token is None:
        raise Refusal(ErrorCode.NOT_AUTHENTICATED, NO_KEY)
    return token


@csrf_exempt  # a Bearer token, never a cookie, authenticates here
@require_http_methods(["GET"])
async def models(request: HttpRequest) -> HttpResponse:
    try:
        await _token(request)
    except Refusal as exc:
        return refusal_response(exc)
    return JsonResponse(model_list([choice["key"] for choice in llm.model_choices()], OWNER))


@csrf_exempt
@require_http_methods(["POST"])
async def chat_completions(request: HttpRequest) -> HttpResponseBase:
    startpath.begin("v1")
    try:
        token = await _token(request)
        startpath.phase("auth")
        asked = parse_request(
            _body(request),
            max_chars=settings.CHAT_MAX_MESSAGE_CHARS,
            max_instructions=MAX_INSTRUCTIONS_CHARS,
        )
        spec = _model(asked.model)
        settings_: TurnSettings = {
            "model": spec.key,
            "instructions": asked.instructions,
            "temperature": asked.temperature,
        }
        limits = llm.AnswerLimits(max_tokens=asked.max_tokens, stop=asked.stop)
        files = await _images_store(token, asked.images)
        turn = Turn(asked.history, asked.question, settings_, limits, files)
        credential = request_credential(request, token.user)
        try:
            follower, posted = await post_turn(
                turn, token=token, credential=credential, on_leave=OnLeave.STOP
            )
        except BaseException:
            await Attachment.objects.filter(pk__in=files, message__isnull=True).adelete()
            raise
    except Refusal as exc:
        return refusal_response(exc)
    assert posted.answer_id is not None
    answer = Answer(follower, posted.answer_id, spec.key, first=follower.follow_posted(posted))
    response: HttpResponseBase
    if not asked.stream:
        response = await answer.whole()
    else:
        response = StreamingHttpResponse(answer.events(asked), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        follower.handed_over()
    response["X-Conversation-Id"] = follower.conversation_id
    return response


async def _images_store(token: ApiToken, images: tuple[bytes, ...]) -> tuple[str, ...]:
    """The question's images, stored as the token's user's attachments (their limits,
    their type read from the content); their ids."""
    ids: list[str] = []
    store = db_call(attachments.attachment_create)
    try:
        for number, data in enumerate(images, 1):
            found = await store(owner=token.user, data=data, name=f"image-{number}")
            ids.append(str(found.pk))
            if found.kind != Attachment.Kind.IMAGE:
                raise BadRequest("An image_url part must hold an image.", param="messages")
    except BaseException:
        await Attachment.objects.filter(pk__in=ids).adelete()
        raise
    return tuple(ids)


def _model(name: str) -> llm.ModelSpec:
    try:
        return llm.resolve_model(name)
    except llm.UnknownModel:
        raise Refusal(ErrorCode.NOT_FOUND, NO_MODEL.format(name[:100]), param="model") from None


def _body(request: HttpRequest) -> Any:
    try:
        body = request.body
    except RequestDataTooBig:
        raise BadRequest("The request body is too large.", status=413) from None
    try:
        return protocol.loads(body)
    except ValueError:
        raise BadRequest("The body is not valid JSON.") from None
