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
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from chat.accounts.guards import request_credential
from chat.conversations import quotas, selectors, services
from chat.conversations.limits import MAX_INSTRUCTIONS_CHARS
from chat.db import db_call, release_request_connection
from chat.errors import ErrorCode, Refusal
from chat.models import ApiToken, Conversation
from chat.provider import llm
from chat.streaming.answer.exchanges import ExchangeRequest
from chat.streaming.delivery import protocol
from chat.streaming.stream.follow import Follower
from chat.streaming.stream.post import OnLeave, Posted, post
from chat.transports.openai.answer import Answer
from chat.transports.openai.errors import refusal_response
from chat.transports.openai.schema import BadRequest, CompletionRequest, model_list, parse_request

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
async def chat_completions(request: HttpRequest) -> HttpResponse:
    try:
        token = await _token(request)
        asked = parse_request(
            _body(request),
            max_chars=settings.CHAT_MAX_MESSAGE_CHARS,
            max_instructions=MAX_INSTRUCTIONS_CHARS,
        )
        spec = _model(asked.model)
        if (refused := await db_call(quotas.precheck)(user_id=token.user_id)) is not None:
            raise refused  # before anything of the request is written
        follower, posted = await _start(request, token, asked, spec.key)
    except Refusal as exc:
        return refusal_response(exc)
    assert posted.answer_id is not None
    answer = Answer(follower, posted.answer_id, spec.key, first=follower.follow_posted(posted))
    if not asked.stream:
        response = await answer.whole()
    else:
        response = StreamingHttpResponse(answer.events(asked), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        follower.handed_over()
    response["X-Conversation-Id"] = follower.conversation_id
    return response


async def _start(
    request: HttpRequest, token: ApiToken, asked: CompletionRequest, model: str
) -> tuple[Follower, Posted]:
    """The next turn of the conversation this request continues, or of a new one with
    its history; a refused new one leaves nothing behind."""
    fields = {"model": model, "instructions": asked.instructions, "temperature": asked.temperature}
    find = db_call(selectors.openai_continuation)
    earlier = await find(token_id=token.pk, history=asked.history, fields=fields)
    if earlier is not None:
        try:
            return await _post(request, token, earlier, asked.question)
        except Refusal as exc:
            if exc.code != ErrorCode.BUSY:
                raise  # busy: another request of the client is being answered there
    conversation = await db_call(services.conversation_import)(
        owner=token.user,
        history=asked.history,
        title=services.derive_title(asked.question),
        source=Conversation.Source.OPENAI,
        api_token=token,
        **fields,
    )
    try:
        return await _post(request, token, conversation.pk, asked.question)
    except BaseException:
        # Only a race with the limits (they were checked before) or an outage gets here.
        await Conversation.objects.filter(pk=conversation.pk).adelete()
        raise


async def _post(
    request: HttpRequest, token: ApiToken, conversation_id: Any, question: str
) -> tuple[Follower, Posted]:
    credential = request_credential(request, token.user)
    follower = Follower(conversation_id, credential=credential, mode="token", on_leave=OnLeave.STOP)
    await follower.join()  # before the answer starts: it misses nothing
    try:
        asked = ExchangeRequest(token.user, conversation_id, question, client_id=None)
        return follower, await post(asked, on_leave=OnLeave.STOP)
    except BaseException:
        await follower.leave()
        raise


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
