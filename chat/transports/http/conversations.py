"""The JSON API of conversations: list, create, read, rename and set, delete, search,
and feedback on an answer. Thin: validation by forms, reads by selectors, writes by
services, JSON by serializers."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from chat.conversations import quotas, search, selectors, serializers, services
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation, Message, Preset
from chat.streaming.answer import registry
from chat.transports.http.forms import (
    ConversationCreateForm,
    ConversationUpdateForm,
    FeedbackForm,
)
from chat.transports.http.responses import (
    AuthenticatedHttpRequest,
    api_login_required,
    json_error,
    read_json,
    refusal,
    valid_form,
)

BAD_SOURCE = _("source must be web, api, openai or all.")
BAD_ARCHIVED = _("archived must be 1 (only the archived conversations) or 0.")


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    """A conversation with how it is answered (model, instructions, temperature)."""
    return {
        **serializers.conversation_to_dict(conversation),
        **serializers.conversation_settings(conversation),
    }


@api_login_required
@require_http_methods(["GET", "POST"])
def api_conversations(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "GET":
        source = request.GET.get("source", "")
        if source not in (*Conversation.Source.values, selectors.ALL_SOURCES, ""):
            return json_error(400, ErrorCode.BAD_REQUEST, BAD_SOURCE)
        archived = request.GET.get("archived", "")
        if archived not in ("", "0", "1"):
            return json_error(400, ErrorCode.BAD_REQUEST, BAD_ARCHIVED)
        started = request.GET.get("started") == "1"  # the chat page's list
        conversations = selectors.conversation_list(
            user=request.user, source=source, started_only=started, archived=archived == "1"
        )
        return JsonResponse(
            {"conversations": [serializers.conversation_to_dict(c) for c in conversations[:500]]}
        )
    form, error = valid_form(request, ConversationCreateForm, "conversation")
    if error:
        return error
    data = dict(form.cleaned_data)
    preset = None
    if data.pop("preset", None) is not None:
        try:
            preset = selectors.preset_get(user=request.user, preset_id=form.cleaned_data["preset"])
        except Preset.DoesNotExist:
            return json_error(404, ErrorCode.NOT_FOUND, _("No such preset."))
    try:
        quotas.throttle(user_id=request.user.pk, action="conversation")
        conversation = services.conversation_create(
            owner=request.user,
            title=data.pop("title", ""),
            preset=preset,
            api_token=getattr(request, "api_token", None),
            **data,
        )
    except Refusal as exc:  # too many at once, or the user's storage is full
        return refusal(exc)
    return JsonResponse(conversation_json(conversation), status=201)


@api_login_required
@require_http_methods(["GET", "PATCH", "DELETE"])
def api_conversation(request: AuthenticatedHttpRequest, conversation_id: str) -> HttpResponse:
    try:
        conversation = selectors.conversation_get(
            user=request.user, conversation_id=conversation_id
        )
    except Conversation.DoesNotExist:
        return json_error(404, ErrorCode.NOT_FOUND, _("No such conversation."))
    if request.method == "GET":
        messages = services.conversation_open(conversation_id=conversation.pk)
        data = conversation_json(conversation)
        data["messages"] = [serializers.message_to_dict(m) for m in messages]
        return JsonResponse(data)
    if request.method == "PATCH":
        form, error = valid_form(request, ConversationUpdateForm, "conversation")
        if error:
            return error
        services.conversation_update(conversation=conversation, changes=form.cleaned_data)
        return JsonResponse(conversation_json(conversation))
    try:  # an answer of this process is stopped here, with no trip through Redis
        services.conversation_delete(conversation=conversation, stop=registry.request_stop)
    except Refusal as exc:
        return refusal(exc)
    return HttpResponse(status=204)


@api_login_required
@require_http_methods(["POST"])
def api_message_feedback(request: AuthenticatedHttpRequest, message_id: str) -> HttpResponse:
    """Thumbs up/down (with an optional comment) on one of the user's answers."""
    try:
        data = read_json(request)
    except ValueError:
        return json_error(400, ErrorCode.BAD_REQUEST, _("The body must be a JSON object."))
    form = FeedbackForm(data)
    if not form.is_valid():
        return json_error(
            400, ErrorCode.INVALID, "The feedback is not valid.", fields=form.errors.get_json_data()
        )
    try:
        message = services.feedback_set(
            user=request.user,
            message_id=message_id,
            rating=form.cleaned_data["rating"],
            comment=form.cleaned_data["comment"],
        )
    except Message.DoesNotExist:
        return json_error(404, ErrorCode.NOT_FOUND, _("No such message."))
    except services.FeedbackNotAllowed:
        return json_error(409, ErrorCode.NOT_ALLOWED, _("Only finished answers can be rated."))
    return JsonResponse(
        {"message_id": str(message.pk), "feedback": serializers.feedback_to_dict(message)}
    )


@api_login_required
@require_http_methods(["GET"])
def api_search(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's own titles and messages matching `q`, newest first (chat/search.py)."""
    query = request.GET.get("q", "").strip()
    if not query:
        return json_error(400, ErrorCode.BAD_REQUEST, _("Type something to search for."))
    if len(query) > search.MAX_QUERY_CHARS:
        return json_error(
            400,
            ErrorCode.TOO_LONG,
            format_lazy(_("Search for at most {most} characters."), most=search.MAX_QUERY_CHARS),
            max_chars=search.MAX_QUERY_CHARS,
        )
    try:
        quotas.throttle(user_id=request.user.pk, action="search")
    except Refusal as exc:
        return refusal(exc)
    hits = search.conversation_search(user=request.user, query=query)
    return JsonResponse({"query": query, "results": [hit.to_dict() for hit in hits]})
