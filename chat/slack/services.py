"""The Slack bot's writes: events taken once, the local owner of a Slack user's
answers, and the conversation tied to a thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from chat.models import Conversation, SlackEvent, SlackThread, SlackUser

if TYPE_CHECKING:
    from chat.models import User

CreateConversation = Callable[..., Conversation]


def event_take(*, event_id: str, message_key: str) -> bool:
    """Record an event; False when it (or another event for the same message) was
    taken before: a retry, a duplicate, a mention that is also a direct message."""
    try:
        with transaction.atomic():
            SlackEvent.objects.create(event_id=event_id, message_key=message_key)
    except IntegrityError:
        return False
    return True


def slack_owner(*, slack_user_id: str) -> User:
    """The local user a Slack user's answers belong to: the one mapped to them (the
    admin's "Slack users"), else SLACK_SERVICE_USER, made (with no password) if missing."""
    mapped = SlackUser.objects.filter(slack_user_id=slack_user_id).select_related("user").first()
    if mapped is not None:
        return mapped.user
    model = get_user_model()
    try:
        return model.objects.get(username=settings.SLACK_SERVICE_USER)
    except model.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            user = model(username=settings.SLACK_SERVICE_USER)
            user.set_unusable_password()
            user.save()
            return user
    except IntegrityError:  # made meanwhile by another event
        return model.objects.get(username=settings.SLACK_SERVICE_USER)


def thread_conversation(
    *, channel: str, thread_ts: str, owner: User, title: str, create: CreateConversation
) -> str:
    """The id of the conversation tied to the thread, made (by `create`, owned by
    `owner`) for a new thread. A later question in the thread continues it."""
    found = thread_find(channel=channel, thread_ts=thread_ts)
    if found is not None:
        return found
    try:
        with transaction.atomic():
            conversation = create(owner=owner, title=title)
            SlackThread.objects.create(
                channel=channel, thread_ts=thread_ts, conversation=conversation
            )
            return str(conversation.pk)
    except IntegrityError:  # the same thread's other event made it meanwhile
        found = thread_find(channel=channel, thread_ts=thread_ts)
        if found is None:
            raise
        return found


def thread_find(*, channel: str, thread_ts: str) -> str | None:
    pk = (
        SlackThread.objects.filter(channel=channel, thread_ts=thread_ts)
        .values_list("conversation_id", flat=True)
        .first()
    )
    return None if pk is None else str(pk)
