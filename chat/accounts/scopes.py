"""What an API token's scope lets it reach, one rule for every door.

`full` reaches what its user can (but the pages tokens never open: the edge's
TOKEN_REFUSED_PREFIXES); `read` only reads: GET and HEAD requests, and on a socket
no frame that starts or changes anything; `v1` only the OpenAI-compatible /v1 API.
A refusal is NOT_ALLOWED with status 403, shaped by each door.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

from chat.errors import ErrorCode, Refusal

if TYPE_CHECKING:
    from chat.errors import Sentence
from chat.models import ApiToken

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
V1_PREFIX = "/v1/"
READ_ONLY = _("This API token is read-only: it cannot start or change anything.")
V1_ONLY = _("This API token works only on the OpenAI-compatible API under /v1/.")


def not_allowed(message: Sentence) -> Refusal:
    return Refusal(ErrorCode.NOT_ALLOWED, message, status=403)


def http_refusal(scope: str, *, method: str, path: str) -> Refusal | None:
    """Why a token of `scope` may not make this request; None if it may."""
    if scope == ApiToken.Scope.V1 and not path.startswith(V1_PREFIX):
        return not_allowed(V1_ONLY)
    if scope == ApiToken.Scope.READ and method.upper() not in READ_METHODS:
        return not_allowed(READ_ONLY)
    return None


def socket_refusal(scope: object) -> Refusal | None:
    """Why a token of `scope` (None: a session) may not open a chat socket."""
    if scope == ApiToken.Scope.V1:
        return not_allowed(V1_ONLY)
    return None


def change_refusal(scope: object) -> Refusal | None:
    """Why a socket signed in with a token of `scope` (None: a session) may not send a
    frame that starts or changes anything."""
    if scope == ApiToken.Scope.READ:
        return not_allowed(READ_ONLY)
    return None
