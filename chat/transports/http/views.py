"""Pages and the JSON API. Thin: validation by forms, reads by selectors, writes by
services, JSON by serializers."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_http_methods

from chat.conversations import search, selectors, serializers, services
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation, Message, Preset
from chat.provider import llm
from chat.provider.llm import model_display_name
from chat.streaming.answer import registry
from chat.streaming.delivery.chunking import MODES
from chat.transports.http.forms import (
    ConversationCreateForm,
    ConversationForm,
    FeedbackForm,
    PartialForm,
    PresetForm,
    SignupForm,
)
from chat.transports.http.responses import (
    api_login_required,
    json_error,
    read_json,
    refusal,
)
from security.responses import too_many_attempts
from security.throttle import signup_retry_after


def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers and tools ask for whatever the page links: the
    site's icon, a static file (pages link it with <link rel="icon"> themselves)."""
    return redirect(static("favicon.svg"))


@login_required
def index(request: HttpRequest, conversation_id: Any = None) -> HttpResponse:
    config = {
        "model_name": model_display_name(),
        "models": llm.model_choices(),
        "max_message_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        "chunk_modes": list(MODES),
        "initial_conversation_id": str(conversation_id) if conversation_id else "",
        "api_base": "/api/conversations/",
        "ws_base": "/ws/chat/",
    }
    context = {"config": config, **config}
    return render(request, "chat/index.html", context)


def signup(request: HttpRequest) -> HttpResponse:
    if not settings.ALLOW_SIGNUP:
        # Closed (ALLOW_SIGNUP=0): a readable page, and nothing a POST could create.
        return render(request, "registration/signup_closed.html", status=404)
    if request.user.is_authenticated:
        return redirect("chat:index")
    if request.method == "POST":
        retry_after = signup_retry_after(request)
        if retry_after is not None:
            return too_many_attempts(request, "sign-up attempts from your address", retry_after)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("chat:index")
    return render(request, "registration/signup.html", {"form": form})


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    """A conversation with how it is answered (model, instructions, temperature)."""
    return {
        **serializers.conversation_to_dict(conversation),
        **serializers.conversation_settings(conversation),
    }


@api_login_required
@require_http_methods(["GET", "POST"])
def api_conversations(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        conversations = selectors.conversation_list(user=request.user)[:500]
        return JsonResponse(
            {"conversations": [serializers.conversation_to_dict(c) for c in conversations]}
        )
    form, error = _valid_form(request, ConversationCreateForm, "conversation")
    if error:
        return error
    data = dict(form.cleaned_data)
    preset = None
    if data.pop("preset", None) is not None:
        try:
            preset = selectors.preset_get(user=request.user, preset_id=form.cleaned_data["preset"])
        except Preset.DoesNotExist:
            return json_error(404, ErrorCode.NOT_FOUND, "No such preset.")
    conversation = services.conversation_create(
        owner=request.user,
        title=data.pop("title", ""),
        preset=preset,
        api_token=getattr(request, "api_token", None),
        **data,
    )
    return JsonResponse(conversation_json(conversation), status=201)


@api_login_required
@require_http_methods(["GET", "PATCH", "DELETE"])
def api_conversation(request: HttpRequest, conversation_id: str) -> HttpResponse:
    try:
        conversation = selectors.conversation_get(
            user=request.user, conversation_id=conversation_id
        )
    except Conversation.DoesNotExist:
        return json_error(404, ErrorCode.NOT_FOUND, "No such conversation.")
    if request.method == "GET":
        messages = services.conversation_open(conversation_id=conversation.pk)
        data = conversation_json(conversation)
        data["messages"] = [serializers.message_to_dict(m) for m in messages]
        return JsonResponse(data)
    if request.method == "PATCH":
        form, error = _valid_form(request, ConversationForm, "conversation")
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
@require_http_methods(["GET"])
def api_models(request: HttpRequest) -> HttpResponse:
    """The models a conversation may use, the default first."""
    choices = llm.model_choices()
    return JsonResponse({"models": choices, "default": choices[0]["key"]})


@api_login_required
@require_http_methods(["GET", "POST"])
def api_presets(request: HttpRequest) -> HttpResponse:
    """The user's presets (by name), or a new one."""
    if request.method == "GET":
        presets = selectors.preset_list(user=request.user)
        return JsonResponse({"presets": [serializers.preset_to_dict(p) for p in presets]})
    form, error = _valid_form(request, PresetForm, "preset", partial=False)
    if error:
        return error
    try:
        preset = services.preset_create(owner=request.user, **form.cleaned_data)
    except services.PresetNameTaken:
        return _preset_name_taken()
    return JsonResponse(serializers.preset_to_dict(preset), status=201)


@api_login_required
@require_http_methods(["GET", "PATCH", "DELETE"])
def api_preset(request: HttpRequest, preset_id: str) -> HttpResponse:
    try:
        preset = selectors.preset_get(user=request.user, preset_id=preset_id)
    except Preset.DoesNotExist:
        return json_error(404, ErrorCode.NOT_FOUND, "No such preset.")
    if request.method == "GET":
        return JsonResponse(serializers.preset_to_dict(preset))
    if request.method == "DELETE":
        services.preset_delete(preset=preset)
        return HttpResponse(status=204)
    form, error = _valid_form(request, PresetForm, "preset")
    if error:
        return error
    try:
        services.preset_update(preset=preset, changes=form.cleaned_data)
    except services.PresetNameTaken:
        return _preset_name_taken()
    return JsonResponse(serializers.preset_to_dict(preset))


def _preset_name_taken() -> JsonResponse:
    message = "You already have a preset of that name: choose another."
    return json_error(
        409, ErrorCode.INVALID, message, fields={"name": [{"message": message, "code": "unique"}]}
    )


@api_login_required
@require_http_methods(["POST"])
def api_message_feedback(request: HttpRequest, message_id: str) -> HttpResponse:
    """Thumbs up/down (with an optional comment) on one of the user's answers."""
    try:
        data = read_json(request)
    except ValueError:
        return json_error(400, ErrorCode.BAD_REQUEST, "The body must be a JSON object.")
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
        return json_error(404, ErrorCode.NOT_FOUND, "No such message.")
    except services.FeedbackNotAllowed:
        return json_error(409, ErrorCode.NOT_ALLOWED, "Only finished answers can be rated.")
    return JsonResponse(
        {"message_id": str(message.pk), "feedback": serializers.feedback_to_dict(message)}
    )


@api_login_required
@require_http_methods(["GET"])
def api_search(request: HttpRequest) -> HttpResponse:
    """The user's own titles and messages matching `q`, newest first (chat/search.py)."""
    query = request.GET.get("q", "").strip()
    if not query:
        return json_error(400, ErrorCode.BAD_REQUEST, "Type something to search for.")
    if len(query) > search.MAX_QUERY_CHARS:
        return json_error(
            400,
            ErrorCode.TOO_LONG,
            f"Search for at most {search.MAX_QUERY_CHARS} characters.",
            max_chars=search.MAX_QUERY_CHARS,
        )
    hits = search.conversation_search(user=request.user, query=query)
    return JsonResponse({"query": query, "results": [hit.to_dict() for hit in hits]})


def _valid_form(
    request: HttpRequest, form_class: type[PartialForm], what: str, *, partial: bool = True
) -> tuple[Any, JsonResponse | None]:
    """The request's JSON body validated by `form_class` (only the fields it holds, when
    `partial`), or the 400 answer to send instead."""
    try:
        data = read_json(request)
    except ValueError:
        return form_class(), json_error(
            400, ErrorCode.BAD_REQUEST, "The body must be a JSON object."
        )
    form = form_class(data, partial=partial)
    if not form.is_valid():
        return form, json_error(
            400, ErrorCode.INVALID, form.error_message(what), fields=form.errors.get_json_data()
        )
    return form, None
