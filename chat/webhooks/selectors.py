"""Reads of webhooks, with no side effects."""

from __future__ import annotations

from typing import TYPE_CHECKING

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


def subscriptions_of_answers(conversation_ids: list[str]) -> list[list[tuple[int, str, str]]]:
    """For each conversation, (id, mode, format) of the active subscriptions that
    receive its answers: its own, and its owner's for all their conversations (one of
    all of one user's conversations never sees another user's). In two queries
    whatever their number (a burst of answers starting)."""
    wanted = set(conversation_ids)
    owners = {
        str(pk): owner
        for pk, owner in Conversation.objects.filter(pk__in=wanted).values_list("pk", "owner_id")
    }
    rows = (
        WebhookSubscription.objects.filter(active=True)
        .filter(
            Q(conversation_id__in=wanted)
            | Q(conversation__isnull=True, owner_id__in=set(owners.values()))
        )
        .order_by("pk")
        .values_list("pk", "mode", "format", "conversation_id", "owner_id")
    )
    own: dict[str, list[tuple[int, str, str]]] = {}
    everywhere: dict[int, list[tuple[int, str, str]]] = {}
    for pk, mode, fmt, conversation, owner in rows:
        if conversation is None:
            everywhere.setdefault(owner, []).append((pk, mode, fmt))
        else:
            own.setdefault(str(conversation), []).append((pk, mode, fmt))
    return [
        sorted(own.get(c, []) + everywhere.get(owners[c], []) if c in owners else [])
        for c in map(str, conversation_ids)
    ]


def deliveries_recent(
    *, subscription: WebhookSubscription, limit: int = RECENT_DELIVERIES
) -> list[WebhookDelivery]:
    return list(subscription.deliveries.order_by("-id")[:limit])


def paused_by_failures_count(*, owner: User) -> int:
    """The owner's subscriptions paused because they kept failing (not by the owner)."""
    found = WebhookSubscription.objects.filter(owner=owner, active=False)
    return found.exclude(paused_reason=PAUSED_BY_OWNER).count()
