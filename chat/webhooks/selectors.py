"""Reads of webhooks, with no side effects."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from django.db.models import Q, QuerySet

from chat.models import Conversation, WebhookDelivery, WebhookSubscription

if TYPE_CHECKING:
    from chat.models import User

RECENT_DELIVERIES = 50
PAUSED_BY_OWNER = "Paused by its owner."  # the reason a pause by its owner gives


def subscription_list(*, owner: User) -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.filter(owner=owner)


def subscription_get(*, owner: User, subscription_id: int | str) -> WebhookSubscription:
    """One of the owner's subscriptions; DoesNotExist for another's or an unknown id."""
    if not str(subscription_id).isdigit():
        raise WebhookSubscription.DoesNotExist
    return WebhookSubscription.objects.get(owner=owner, pk=int(subscription_id))


def subscriptions_of_answer(conversation_id: UUID | str) -> list[tuple[int, str, str]]:
    """(id, mode, format) of the active subscriptions that receive the conversation's
    answers: its own, and its owner's for all their conversations. A subscription of
    all of one user's conversations never sees another user's."""
    owner = Conversation.objects.filter(pk=conversation_id).values("owner_id")
    found = WebhookSubscription.objects.filter(active=True).filter(
        Q(conversation_id=conversation_id) | Q(conversation__isnull=True, owner_id__in=owner)
    )
    return list(found.order_by("pk").values_list("pk", "mode", "format"))


def deliveries_recent(
    *, subscription: WebhookSubscription, limit: int = RECENT_DELIVERIES
) -> list[WebhookDelivery]:
    return list(subscription.deliveries.order_by("-id")[:limit])


def paused_by_failures_count(*, owner: User) -> int:
    """The owner's subscriptions paused because they kept failing (not by the owner)."""
    found = WebhookSubscription.objects.filter(owner=owner, active=False)
    return found.exclude(paused_reason=PAUSED_BY_OWNER).count()
