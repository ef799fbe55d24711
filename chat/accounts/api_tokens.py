"""Personal API tokens: mint, list, revoke, and authenticate a raw token.

A raw token is `chat_` + 43 URL-safe characters (256 random bits). Only its SHA-256
is stored: it is a high-entropy secret, so a fast hash is enough (as for GitHub's
tokens); its first characters are kept as `prefix` so that its owner recognises it.
A token may expire (`expires`), and its scope limits what it reaches (scopes.py);
a password change revokes every token of the user (signals.py).
"""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.dispatch import Signal
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.db import GroupCall
from chat.models import ApiToken

if TYPE_CHECKING:
    from chat.models import User

RAW_PREFIX = "chat_"
PREFIX_CHARS = 12
# `chat_` and what secrets.token_urlsafe(32) gives; anything else is not one of ours.
RAW_FORMAT = re.compile(r"chat_[A-Za-z0-9_-]{43}")
# last_used is written at most this often per token: not a write per request.
LAST_USED_EVERY = timedelta(seconds=60)


# Sent (with `user_id`) once a revocation is committed: the user's open sockets and
# streams check their token again (signals.py).
token_revoked = Signal()


class TokenLimitReached(Exception):
    """The user already has API_MAX_TOKENS_PER_USER active tokens."""


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def active() -> Q:
    """Tokens that sign in: not revoked, not expired, their user active."""
    unexpired = Q(expires__isnull=True) | Q(expires__gt=timezone.now())
    return Q(revoked__isnull=True, user__is_active=True) & unexpired


@transaction.atomic
def token_create(
    *,
    user: User,
    name: str,
    scope: str = ApiToken.Scope.FULL,
    lifetime: timedelta | None = None,
) -> tuple[ApiToken, str]:
    """A new token for `user` (valid for `lifetime`, None: until revoked); returns it
    and the raw token, which is never stored."""
    # The user's row is locked so that two requests at once cannot pass the cap.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    limit = settings.API_MAX_TOKENS_PER_USER
    if token_list(user=user).filter(active()).count() >= limit:
        raise TokenLimitReached(
            format_lazy(
                _(
                    "You already have {limit} active API tokens, the most allowed: "
                    "revoke one you no longer use first."
                ),
                limit=limit,
            )
        )
    raw = RAW_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=raw[:PREFIX_CHARS],
        key_hash=key_hash(raw),
        scope=scope,
        expires=None if lifetime is None else timezone.now() + lifetime,
    )
    return token, raw


def token_revoke(*, token: ApiToken, why: str = ApiToken.Revocation.OWNER) -> None:
    """Revoke the token (once); the user's open sockets then check theirs again."""
    if token.revoked is not None:
        return
    token.revoked = timezone.now()
    token.revoked_why = why
    ApiToken.objects.filter(pk=token.pk, revoked__isnull=True).update(
        revoked=token.revoked, revoked_why=why
    )
    user_id = token.user_id
    # After the commit: a socket that checks must see the token revoked.
    transaction.on_commit(lambda: token_revoked.send(ApiToken, user_id=user_id))


def tokens_revoke_all(*, user: User, why: str) -> int:
    """Revoke every active token of `user` at once (a password change); how many."""
    now = timezone.now()
    unexpired = Q(expires__isnull=True) | Q(expires__gt=now)
    revoked = ApiToken.objects.filter(unexpired, user=user, revoked__isnull=True).update(
        revoked=now, revoked_why=why
    )
    if revoked:
        user_id = user.pk
        transaction.on_commit(lambda: token_revoked.send(ApiToken, user_id=user_id))
    return revoked


def token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's tokens, revoked ones included, newest first."""
    return ApiToken.objects.filter(user=user).order_by("-created", "-pk")


def password_revocations(*, user: User, limit: int = 3) -> list[dict[str, Any]]:
    """The user's latest password changes that revoked tokens: `revoked` (when) and
    `count` (how many), newest first."""
    rows = (
        ApiToken.objects.filter(user=user, revoked_why=ApiToken.Revocation.PASSWORD)
        .values("revoked")
        .annotate(count=Count("pk"))
        .order_by("-revoked")
    )
    return [dict(row) for row in rows[:limit]]


@dataclass(frozen=True)
class TokenUse:
    """A raw token as a request or handshake presents it, and the client's address."""

    raw: str
    address: str | None = None


def tokens_authenticate(uses: Sequence[TokenUse]) -> list[ApiToken | None]:
    """For each use, the active token it presents, with its active user (each use its
    own instances); None otherwise. One read for all of them; a token's last use (time
    and address) is written at most once a minute, by the first use that finds it
    older."""
    hashes = [key_hash(use.raw) if RAW_FORMAT.fullmatch(use.raw) else None for use in uses]
    wanted = {h for h in hashes if h is not None}
    found = {
        token.key_hash: token
        for token in (
            ApiToken.objects.select_related("user").filter(active(), key_hash__in=wanted)
            if wanted
            else ()
        )
    }
    now = timezone.now()
    given: set[int] = set()
    outcomes: list[ApiToken | None] = []
    for use, hashed in zip(uses, hashes, strict=True):
        token = found.get(hashed) if hashed is not None else None
        if token is None:
            outcomes.append(None)
            continue
        if token.last_used is None or now - token.last_used >= LAST_USED_EVERY:
            stale = Q(last_used__isnull=True) | Q(last_used__lt=now - LAST_USED_EVERY)
            ApiToken.objects.filter(stale, pk=token.pk).update(
                last_used=now, last_used_ip=use.address
            )
            token.last_used, token.last_used_ip = now, use.address
        outcomes.append(_own_copy(token) if token.pk in given else token)
        given.add(token.pk)
    return outcomes


def _own_copy(token: ApiToken) -> ApiToken:
    """Another instance of `token` and of its user: two requests of one token never
    share the objects they are handed."""
    twin = copy.copy(token)
    twin.user = copy.copy(token.user)
    return twin


def token_authenticate(raw: str, address: str | None = None) -> ApiToken | None:
    """The active token `raw` is, with its active user; None otherwise. Its last use
    (time and client `address`) is recorded at most once a minute."""
    return tokens_authenticate([TokenUse(raw, address)])[0]


# The Bearer checks of a burst of requests and handshakes, asked together: a hundred
# scripts at once were a hundred reads fighting for the database threads.
_token_checks: GroupCall[TokenUse, ApiToken | None] = GroupCall(
    tokens_authenticate, name="token-checks"
)


async def token_authenticate_async(raw: str, address: str | None = None) -> ApiToken | None:
    """`token_authenticate`, asked together with the other checks of this moment."""
    if not RAW_FORMAT.fullmatch(raw):  # not ours: no database at all
        return None
    return await _token_checks.submit(TokenUse(raw, address))
