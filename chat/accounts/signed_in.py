"""Do these credentials still sign their users in? Many at once (guards.still_signed_in).

Every frame that acts checks its socket's session or token first. A hundred users
sending at once asked a hundred times, two queries each, on every database thread at
once: the check waited about 70 ms in the queue, longer than the answer's own start
(docs/performance.md). Asked together (chat/db.py `GroupCall`), a burst is three
queries: the sessions, their users, the tokens.

Only the common case is decided here: a session of Django's database engine, unexpired,
whose user is active for its backend (ModelBackend's `get_user`) and whose auth hash
matches the password under the current secret. Anything else (no such session, a
fallback secret, another backend or session engine) goes to Django's own
`auth.get_user`, one credential at a time, so the answer is always Django's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model, load_backend
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends import db as db_sessions
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from chat.accounts.api_tokens import active
from chat.models import ApiToken

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser


@dataclass(frozen=True)
class Credential:
    """What signed a socket or a request in: an API token, else its session (a socket
    opened without one, in tests: the account alone)."""

    user_id: int
    token_id: int | None = None
    session_key: str | None = None
    with_session: bool = True


def signed_in_many(credentials: list[Credential]) -> list[bool]:
    """For each credential, whether it still signs its user in (module docstring)."""
    tokens = _valid_tokens({c.token_id for c in credentials if c.token_id is not None})
    sessions = _verified_sessions(
        {c.session_key for c in credentials if c.token_id is None and c.session_key}
    )
    bare = {c.user_id for c in credentials if c.token_id is None and not c.with_session}
    active_users = set(
        get_user_model().objects.filter(pk__in=bare, is_active=True).values_list("pk", flat=True)
        if bare
        else ()
    )
    outcomes: list[bool] = []
    for credential in credentials:
        if credential.token_id is not None:
            outcomes.append((credential.token_id, credential.user_id) in tokens)
        elif not credential.with_session:
            outcomes.append(credential.user_id in active_users)
        elif credential.session_key and sessions.get(credential.session_key) == credential.user_id:
            outcomes.append(True)
        else:
            outcomes.append(signed_in_by_django(credential))
    return outcomes


def signed_in_by_django(credential: Credential) -> bool:
    """Django's own answer for a session: the session as stored now (a logout deleted
    it), its auth hash (a password change) and the account's is_active."""
    engine = import_module(settings.SESSION_ENGINE)
    session = engine.SessionStore(credential.session_key)
    current: AbstractBaseUser | AnonymousUser | None
    current = auth.get_user(SimpleNamespace(session=session))  # type: ignore[arg-type]  # it reads only .session
    return bool(
        current is not None and current.is_authenticated and current.pk == credential.user_id
    )


def _valid_tokens(ids: set[int]) -> set[tuple[int, int]]:
    """(token, user) of the tokens that still sign in, of `ids`."""
    if not ids:
        return set()
    rows = ApiToken.objects.filter(active(), pk__in=ids).values_list("pk", "user_id")
    return {(pk, user_id) for pk, user_id in rows}


def _verified_sessions(keys: set[str]) -> dict[str, int]:
    """The user each session of `keys` signs in, for those the common case decides."""
    engine = import_module(settings.SESSION_ENGINE)
    if not keys or engine.SessionStore is not db_sessions.SessionStore:
        return {}
    store = engine.SessionStore()
    rows = Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now())
    claims = {
        key: claim
        for key, data in rows.values_list("session_key", "session_data")
        if (claim := _claim(store.decode(data))) is not None
    }
    users = _users({pk for pk, _backend, _hash in claims.values()})
    verified: dict[str, int] = {}
    for key, (pk, backend, session_hash) in claims.items():
        user = users.get(pk)
        if user is None or not backend.user_can_authenticate(user):
            continue
        if constant_time_compare(session_hash, user.get_session_auth_hash()):
            verified[key] = pk
    return verified


def _claim(session: dict[str, Any]) -> tuple[int, ModelBackend, str] | None:
    """(user, backend, auth hash) a session says, when ModelBackend's `get_user` reads
    its user; else None (Django decides it)."""
    try:
        pk = get_user_model()._meta.pk.to_python(session[auth.SESSION_KEY])
        backend_path = session[auth.BACKEND_SESSION_KEY]
        session_hash = session[auth.HASH_SESSION_KEY]
    except (KeyError, ValidationError):
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS or not session_hash:
        return None
    backend = load_backend(backend_path)
    if not isinstance(backend, ModelBackend) or type(backend).get_user is not ModelBackend.get_user:
        return None
    return pk, backend, session_hash


def _users(ids: Iterable[int]) -> dict[int, Any]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {user.pk: user for user in get_user_model()._default_manager.filter(pk__in=wanted)}
