"""The user's preferences: the settings page (a form, post/redirect/get) and
/api/preferences/ (JSON), which the chat page's appearance switch saves through."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from chat.accounts import preferences as prefs
from chat.transports.http.forms import PreferencesForm
from chat.transports.http.responses import (
    AuthenticatedHttpRequest,
    api_login_required,
    valid_form,
)

SAVED = _("Your settings are saved.")
# The operator's speech engine (SPEECH_ENGINE), as the settings page names it.
ENGINE_NAMES = {
    "espeak": "espeak-ng",
    "voicevox": "VOICEVOX",
    "openai": _("an OpenAI-compatible speech server"),
}


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The form; a valid POST saves and redirects back here, which says it was saved."""
    current = prefs.preferences_get(user=request.user)
    form = PreferencesForm(request.POST or None, initial=prefs.preferences_to_dict(current))
    if request.method == "POST" and form.is_valid():
        prefs.preferences_update(user=request.user, changes=form.cleaned_data)
        messages.success(request, SAVED)
        return redirect("chat:settings")
    context = {
        "form": form,
        "import_max_bytes": settings.IMPORT_MAX_BYTES,
        "speech_engine": ENGINE_NAMES.get(settings.SPEECH_ENGINE, settings.SPEECH_ENGINE),
    }
    return render(request, "chat/settings.html", context)


@api_login_required
@require_http_methods(["GET", "PATCH"])
def api_preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: the user's preferences; PATCH: change those the body holds."""
    if request.method == "PATCH":
        form, error = valid_form(request, PreferencesForm, "preferences")
        if error:
            return error
        saved = prefs.preferences_update(user=request.user, changes=form.cleaned_data)
    else:
        saved = prefs.preferences_get(user=request.user)
    return JsonResponse(prefs.preferences_to_dict(saved))
