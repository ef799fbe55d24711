"""The JSON API of what a conversation may be set to: the models on offer, and the
user's presets (named instructions, model and temperature)."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from chat.conversations import quotas, selectors, serializers, services
from chat.errors import ErrorCode, Refusal
from chat.models import Preset
from chat.provider import llm
from chat.transports.http.forms import (
    PresetForm,
)
from chat.transports.http.responses import (
    AuthenticatedHttpRequest,
    api_login_required,
    json_error,
    refusal,
    valid_form,
)


@api_login_required
@require_http_methods(["GET"])
def api_models(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The models a conversation may use, the default first."""
    choices = llm.model_choices()
    return JsonResponse({"models": choices, "default": choices[0]["key"]})


@api_login_required
@require_http_methods(["GET", "POST"])
def api_presets(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's presets (by name), or a new one."""
    if request.method == "GET":
        presets = selectors.preset_list(user=request.user)
        return JsonResponse({"presets": [serializers.preset_to_dict(p) for p in presets]})
    form, error = valid_form(request, PresetForm, "preset", partial=False)
    if error:
        return error
    if (throttled := _throttled(request)) is not None:
        return throttled
    try:
        preset = services.preset_create(owner=request.user, **form.cleaned_data)
    except services.PresetNameTaken:
        return _preset_name_taken()
    return JsonResponse(serializers.preset_to_dict(preset), status=201)


@api_login_required
@require_http_methods(["GET", "PATCH", "DELETE"])
def api_preset(request: AuthenticatedHttpRequest, preset_id: str) -> HttpResponse:
    try:
        preset = selectors.preset_get(user=request.user, preset_id=preset_id)
    except Preset.DoesNotExist:
        return json_error(404, ErrorCode.NOT_FOUND, _("No such preset."))
    if request.method == "GET":
        return JsonResponse(serializers.preset_to_dict(preset))
    if request.method == "DELETE":
        services.preset_delete(preset=preset)
        return HttpResponse(status=204)
    form, error = valid_form(request, PresetForm, "preset")
    if error:
        return error
    if (throttled := _throttled(request)) is not None:
        return throttled
    try:
        services.preset_update(preset=preset, changes=form.cleaned_data)
    except services.PresetNameTaken:
        return _preset_name_taken()
    return JsonResponse(serializers.preset_to_dict(preset))


def _throttled(request: AuthenticatedHttpRequest) -> JsonResponse | None:
    """429 past CHAT_ACTIONS_PER_MINUTE preset saves, else None (one more counted)."""
    try:
        quotas.throttle(user_id=request.user.pk, action="preset")
    except Refusal as exc:
        return refusal(exc)
    return None


def _preset_name_taken() -> JsonResponse:
    message = "You already have a preset of that name: choose another."
    return json_error(
        409, ErrorCode.INVALID, message, fields={"name": [{"message": message, "code": "unique"}]}
    )
