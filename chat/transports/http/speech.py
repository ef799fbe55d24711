"""Spoken chunks of answers (voice mode): `GET /api/speech/<token>.wav` serves the
cached WAV a tab's `audio` frame points at, to the user the link was made for."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_http_methods

from chat.errors import ErrorCode
from chat.speech.cache import SpeechCache
from chat.speech.links import key_from_token
from chat.transports.http.responses import (
    AuthenticatedHttpRequest,
    api_login_required,
    json_error,
)

NO_AUDIO = "No such audio: the link is another user's, or its audio is gone."


@api_login_required
@require_http_methods(["GET", "HEAD"])
def api_speech(request: AuthenticatedHttpRequest, token: str) -> HttpResponse:
    """The WAV; 404 `not_found` for a forged or another user's link, or audio pruned
    from the cache. The same link always names the same audio: the browser keeps it
    (a replay asks nothing of the server)."""
    key = key_from_token(request.user.pk, token)
    path = SpeechCache(settings.SPEECH_CACHE_DIR).path(key) if key else None
    if path is None or not path.is_file():
        return json_error(404, ErrorCode.NOT_FOUND, NO_AUDIO)
    response = HttpResponse(path.read_bytes(), content_type="audio/wav")  # a chunk: small
    response["Cache-Control"] = "private, max-age=86400, immutable"
    return response
