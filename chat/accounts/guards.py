"""Who may keep a chat socket open: a cap per user, and the session still valid.

Logging out, changing the password, deactivating an account or revoking an API token
tells the user's sockets (group `user.<id>`, in every process) to check their session
(or token) again; a socket whose session no longer authenticates its user is closed
(4401). The cap on open sockets is counted per process (a socket lives in one
process): with N processes a user may hold up to N × CHAT_MAX_SOCKETS_PER_USER.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from importlib import import_module
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model

from chat import contract
from chat.accounts.api_tokens import token_is_valid
from chat.db import db_call

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    from chat.models import User

logger = logging.getLogger(__name__)

_open_sockets: Counter[int] = Counter()


def socket_opened(user_id: int) -> bool:
    """Count a new socket of the user; False (not counted) when over the cap."""
    if _open_sockets[user_id] >= settings.CHAT_MAX_SOCKETS_PER_USER:
        return False
    _open_sockets[user_id] += 1
    return True


def socket_closed(user_id: int) -> None:
    _open_sockets[user_id] -= 1
    if _open_sockets[user_id] <= 0:
        del _open_sockets[user_id]


async def still_signed_in(scope: Mapping[str, Any]) -> bool:
    """Does the socket's session (or API token) still authenticate the user it opened
    as? Checked on the database threads, not Django's one thread-sensitive thread: a
    frame must not queue behind whatever holds that thread."""
    user_id = scope["user"].pk
    if "api_token_id" in scope:  # opened with a token: not revoked, its user active
        return await db_call(token_is_valid)(token_id=scope["api_token_id"], user_id=user_id)
    session = scope.get("session")
    key = session.session_key if session is not None else None
    return await db_call(_signed_in)(user_id, key, with_session="session" in scope)


def _signed_in(user_id: int, session_key: str | None, *, with_session: bool) -> bool:
    current: AbstractBaseUser | AnonymousUser | None
    if with_session:  # the real stack: the session as stored now (a logout deleted it),
        # its auth hash (a password change) and the account's is_active
        engine = import_module(settings.SESSION_ENGINE)
        current = auth.get_user(SimpleNamespace(session=engine.SessionStore(session_key)))  # type: ignore[arg-type]  # it reads only .session
    else:  # a socket opened without a session (tests): the account itself
        current = _active_user(user_id)
    return bool(current is not None and current.is_authenticated and current.pk == user_id)


def _active_user(pk: int) -> User | None:
    return get_user_model().objects.filter(pk=pk, is_active=True).first()


def user_changed(user_id: int) -> None:
    """Tell the user's sockets, in every process, to check their session (from sync
    code: signal handlers in views). A channel-layer failure is logged, not raised:
    the logout or password change itself has happened."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(contract.group_send)(
            layer, contract.user_group(user_id), contract.user_check()
        )
    except Exception:
        logger.warning("could not reach the sockets of user %s", user_id, exc_info=True)


def request_credential(request: Any, user: Any) -> dict[str, Any]:
    """What signed an HTTP request in, shaped as a socket's scope (for still_signed_in):
    its API token, or its session."""
    token = getattr(request, "api_token", None)
    if token is not None:
        return {"user": user, "api_token_id": token.pk}
    return {"user": user, "session": request.session}
