"""The address of a spoken chunk: `/api/speech/<token>.wav`, where the token signs the
cache key for one user (Django's signing, with SECRET_KEY). A link works for the user
it was made for and nobody else, and names no text."""

from __future__ import annotations

import re

from django.core import signing

SALT = "chat.speech.audio"
KEY = re.compile(r"[0-9a-f]{64}")  # a cache key (cache.cache_key: sha256 hex)


def audio_token(user_id: int, key: str) -> str:
    """A token for `key`, valid for `user_id` only."""
    return signing.dumps([user_id, key], salt=SALT, compress=False)


def audio_url(user_id: int, key: str) -> str:
    return f"/api/speech/{audio_token(user_id, key)}.wav"


def key_from_token(user_id: int, token: str) -> str | None:
    """The cache key a token names for `user_id`; None if it is forged, another
    user's, or not a key."""
    try:
        owner, key = signing.loads(token, salt=SALT)
    except (signing.BadSignature, TypeError, ValueError):
        return None
    if owner != user_id or not isinstance(key, str) or not KEY.fullmatch(key):
        return None
    return key
