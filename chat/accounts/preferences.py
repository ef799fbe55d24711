"""A user's preferences: the page's appearance (system, light, dark), the default
instructions of their new conversations (chat/conversations/services.py copies them)
and the server voice of their spoken answers (voice mode: chat/streaming/stream/tab.py).

A user with no row has the defaults; the row is made by the first save, never by a read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat.models import UserPreferences

if TYPE_CHECKING:
    from django.http import HttpRequest

    from chat.models import User

FIELDS = ("theme", "default_instructions", "speech_voice")
REQUEST_CACHE = "_chat_preferences"


def preferences_get(*, user: User) -> UserPreferences:
    """The user's preferences; unsaved defaults when they never saved any."""
    found = UserPreferences.objects.filter(user_id=user.pk).first()
    return found if found is not None else UserPreferences(user_id=user.pk)


def preferred_voice(user: User) -> str:
    """The server voice the user chose for their spoken answers ("": the engine's)."""
    found = UserPreferences.objects.filter(user_id=user.pk).values_list("speech_voice", flat=True)
    return next(iter(found), "")


def preferences_of_request(request: HttpRequest) -> UserPreferences | None:
    """The signed-in user's preferences (None signed out), read once per request: the
    page's view and its template both ask."""
    if not hasattr(request, REQUEST_CACHE):
        user = getattr(request, "user", None)
        found = None
        if user is not None and user.is_authenticated:
            found = preferences_get(user=user)
        setattr(request, REQUEST_CACHE, found)
    cached: UserPreferences | None = getattr(request, REQUEST_CACHE)
    return cached


def preferences_update(*, user: User, changes: dict[str, str]) -> UserPreferences:
    """Save the preferences in `changes` (only the keys given, of FIELDS); the row is
    made if the user had none."""
    fields = [name for name in FIELDS if name in changes]
    values = {name: changes[name] for name in fields}
    preferences, created = UserPreferences.objects.get_or_create(user_id=user.pk, defaults=values)
    if not created and fields:
        for name, value in values.items():
            setattr(preferences, name, value)
        preferences.save(update_fields=[*fields, "updated"])
    return preferences


def preferences_to_dict(preferences: UserPreferences) -> dict[str, str]:
    """The JSON shape of /api/preferences/."""
    return {
        "theme": preferences.theme,
        "default_instructions": preferences.default_instructions,
        "speech_voice": preferences.speech_voice,
    }
