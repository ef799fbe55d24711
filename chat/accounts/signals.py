"""Account changes that end a user's chat sessions reach their open sockets; a
password change (or reset) revokes the user's API tokens."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from chat.accounts.api_tokens import token_revoked, tokens_revoke_all
from chat.accounts.guards import user_changed
from chat.accounts.sessions import session_seen
from chat.models import ApiToken
from security.client import client_ip

if TYPE_CHECKING:
    from django.http import HttpRequest

    from chat.models import User


@receiver(user_logged_in)
def logged_in(
    sender: type[User], request: HttpRequest | None, user: User, **kwargs: object
) -> None:
    """The new session is listed on the account page at once (with where it is from)."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if request is not None and key:
        session_seen(
            user=user,
            session_key=key,
            user_agent=request.headers.get("User-Agent", ""),
            address=client_ip(request),
        )


@receiver(user_logged_out)
def logged_out(
    sender: type[User | None], request: HttpRequest | None, user: User | None, **kwargs: object
) -> None:
    """Django flushes the session only after this signal: flush it first, so that a
    socket checking it (on another thread, at once) finds it gone."""
    if request is not None and hasattr(request, "session"):
        request.session.flush()
    if user is not None:
        user_changed(user.pk)


@receiver(post_save, sender=get_user_model())
def account_saved(
    sender: type[User],
    instance: User,
    created: bool,
    update_fields: frozenset[str] | None,
    **kwargs: object,
) -> None:
    """A password change or a deactivation is a save of the user; a login saves only
    `last_login`, and a new account has no sockets yet."""
    if created or (update_fields is not None and set(update_fields) == {"last_login"}):
        return
    # set_password() keeps the new password in `_password` until the save after it
    # (Django calls its validators' password_changed() then); a hash upgraded at
    # log-in clears it first, and is no change.
    if getattr(instance, "_password", None) is not None:
        tokens_revoke_all(user=instance, why=ApiToken.Revocation.PASSWORD)
    # Once committed: a socket checking at once (on another connection) sees the change.
    transaction.on_commit(partial(user_changed, instance.pk))


@receiver(token_revoked)
def api_token_revoked(sender: type[ApiToken], user_id: int, **kwargs: object) -> None:
    user_changed(user_id)
