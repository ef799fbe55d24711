"""The browser sessions a user is signed in with (the account page): from where and
when each was last seen, signing out of all but this one, and deleting the account.

A session is recorded at log-in (signals.py) and its `last_seen` moved on by the pages
and sockets it opens, at most once a minute. Django's session table has no user
column, so signing out of the others reads the live sessions and deletes the user's
(a rare action: every live session is decoded), then tells the user's sockets to
check theirs (those of the deleted sessions close with 4401)."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from chat.accounts.guards import user_changed
from chat.models import Message, SignedInSession

if TYPE_CHECKING:
    from chat.models import User

SEEN_EVERY = timedelta(minutes=1)
USER_AGENT_CHARS = 300


def session_seen(*, user: User, session_key: str, user_agent: str, address: str | None) -> None:
    """Record the session (at log-in) or move its `last_seen` on, unless it was seen in
    the last SEEN_EVERY (one query then, an UPDATE that changes nothing)."""
    now = timezone.now()
    fields = {"user_agent": user_agent[:USER_AGENT_CHARS], "address": address or None}
    moved = SignedInSession.objects.filter(
        session_key=session_key, user=user, last_seen__lt=now - SEEN_EVERY
    ).update(last_seen=now, **fields)
    if not moved:
        SignedInSession.objects.get_or_create(
            session_key=session_key, defaults={"user": user, "last_seen": now, **fields}
        )


def sessions_of(*, user: User) -> list[SignedInSession]:
    """The user's sessions that still sign them in, the most recently seen first; the
    records of ended ones (logged out, expired) are dropped on the way."""
    live = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    records = SignedInSession.objects.filter(user=user)
    records.exclude(session_key__in=live).delete()
    return list(records.filter(session_key__in=live).order_by("-last_seen"))


@transaction.atomic
def sessions_end_others(*, user: User, keep: str) -> int:
    """Sign the user out of every session but `keep`; returns how many ended."""
    theirs = [
        session.session_key
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get(SESSION_KEY) == str(user.pk) and session.session_key != keep
    ]
    Session.objects.filter(session_key__in=theirs).delete()
    SignedInSession.objects.filter(user=user).exclude(session_key=keep).delete()
    transaction.on_commit(partial(user_changed, user.pk))
    return len(theirs)


def answers_streaming(*, user: User) -> bool:
    return Message.objects.filter(
        conversation__owner=user, status=Message.Status.STREAMING
    ).exists()


@transaction.atomic
def account_delete(*, user: User) -> None:
    """The user and everything of theirs (conversations, messages, tokens, presets,
    preferences, sessions: all cascade), their sockets told at once."""
    user_id = user.pk
    user.delete()
    transaction.on_commit(partial(user_changed, user_id))
