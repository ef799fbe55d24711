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
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from chat import contract
from chat.accounts.signed_in import Credential, signed_in_many
from chat.db import GroupCall

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
    as? Checked on the database threads, not Django's one thread-sensitive thread (a
    frame must not queue behind whatever holds that thread), together with the other
    checks of the moment (signed_in.py)."""
    return await _checks.submit(credential_of(scope))


def credential_of(scope: Mapping[str, Any]) -> Credential:
    user_id = scope["user"].pk
    if "api_token_id" in scope:  # opened with a token: not revoked, its user active
        return Credential(user_id, token_id=scope["api_token_id"])
    session = scope.get("session")
    key = session.session_key if session is not None else None
    return Credential(user_id, session_key=key, with_session="session" in scope)


_checks: GroupCall[Credential, bool] = GroupCall(signed_in_many, name="credential-checks")


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
