"""Writes of webhooks: subscriptions, and the outbox rows that deliver them (written
by the answer's follower, claimed and marked by a delivery worker)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.db.models.functions import Now

from chat.models import Conversation, WebhookDelivery, WebhookSubscription
from chat.webhooks import schedule, signing, targets
from chat.webhooks.selectors import PAUSED_BY_OWNER

if TYPE_CHECKING:
    from chat.models import User

PENDING = WebhookDelivery.Status.PENDING
MAX_ERROR_CHARS = 500


def target_check(url: str) -> targets.Target:
    """The URL against the operator's rule (blocking: resolves the host)."""
    return targets.resolve(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_TARGETS)


MAX_SUBSCRIPTIONS = 20  # per user


class TooManySubscriptions(Exception):
    """The user has MAX_SUBSCRIPTIONS webhooks already."""


def subscription_create(
    *,
    owner: User,
    url: str,
    mode: str,
    format: str,
    conversation: Conversation | None = None,
) -> WebhookSubscription:
    """A new active subscription with a new secret. Raises TooManySubscriptions
    (checked first) or TargetRefused."""
    if WebhookSubscription.objects.filter(owner=owner).count() >= MAX_SUBSCRIPTIONS:
        raise TooManySubscriptions
    target_check(url)
    return WebhookSubscription.objects.create(
        owner=owner,
        conversation=conversation,
        url=url.strip(),
        mode=mode,
        format=format,
        secret=signing.new_secret(),
    )


def subscription_update(*, subscription: WebhookSubscription, changes: dict[str, Any]) -> None:
    """Change the fields given; `active` True resumes a paused one (its waiting rows are
    due at once), False pauses it. Raises TargetRefused for a refused new URL."""
    if "url" in changes:
        target_check(changes["url"])
        changes["url"] = changes["url"].strip()
    resuming = changes.get("active") is True and not subscription.active
    for field, value in changes.items():
        setattr(subscription, field, value)
    if changes.get("active") is False and not subscription.paused_reason:
        subscription.paused_reason = PAUSED_BY_OWNER
    if resuming:
        subscription.paused_reason = ""
        subscription.consecutive_failures = 0
    with transaction.atomic():
        subscription.save()
        if resuming:
            subscription.deliveries.filter(status=PENDING).update(next_attempt_at=Now())


def subscription_delete(*, subscription: WebhookSubscription) -> None:
    subscription.delete()  # its outbox rows with it


def deliveries_write(rows: list[tuple[int, str, int, dict[str, Any]]]) -> None:
    """Outbox rows (subscription id, answer id, seq, body), due at once."""
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(subscription_id=sub, message_id=UUID(message), seq=seq, body=body)
        for sub, message, seq, body in rows
    )


@dataclass(frozen=True)
class Claim:
    """A row claimed for one POST, with what the POST needs."""

    id: int
    subscription_id: int
    url: str
    secret: str
    body: dict[str, Any]
    attempts: int  # this one included


def deliveries_claim(*, limit: int, lease: float) -> list[Claim]:
    """The due rows that head their subscription's queue (the oldest pending row of
    each active subscription: one in flight per subscription, in order), held for
    `lease` seconds: a claimer that dies leaves them due again after it. Rows locked by
    another process's claim are skipped (PostgreSQL)."""
    earlier = WebhookDelivery.objects.filter(
        subscription=OuterRef("subscription"), status=PENDING, id__lt=OuterRef("id")
    )
    with transaction.atomic():
        due = (
            WebhookDelivery.objects.filter(
                status=PENDING, next_attempt_at__lte=Now(), subscription__active=True
            )
            .exclude(Exists(earlier))
            .select_related("subscription")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("id")[:limit]
        )
        rows = list(due)
        WebhookDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(
            attempts=F("attempts") + 1, next_attempt_at=Now() + timedelta(seconds=lease)
        )
    return [
        Claim(
            r.pk,
            r.subscription_id,
            r.subscription.url,
            r.subscription.secret,
            r.body,
            r.attempts + 1,
        )
        for r in rows
    ]


def delivery_succeeded(*, claim: Claim, response_status: int) -> None:
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=claim.id).update(
            status=WebhookDelivery.Status.DELIVERED,
            response_status=response_status,
            last_error="",
            delivered_at=Now(),
        )
        WebhookSubscription.objects.filter(pk=claim.subscription_id).update(consecutive_failures=0)


def delivery_failed(
    *, claim: Claim, error: str, response_status: int | None, refused: bool = False
) -> bool:
    """A POST that failed: the row is tried again after its back-off (or given up after
    schedule.MAX_ATTEMPTS); the subscription counts one more failure in a row and is
    paused at WEBHOOK_PAUSE_AFTER_FAILURES, or at once for a refused target. True if
    it was paused now."""
    error = error[:MAX_ERROR_CHARS]
    delay = schedule.retry_delay(claim.attempts, settings.WEBHOOK_RETRY_BASE_SECONDS)
    given_up = schedule.give_up(claim.attempts)
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=claim.id).update(
            status=WebhookDelivery.Status.FAILED if given_up else PENDING,
            last_error=error,
            response_status=response_status,
            next_attempt_at=Now() + timedelta(seconds=delay),
        )
        subscription = WebhookSubscription.objects.select_for_update().get(pk=claim.subscription_id)
        subscription.consecutive_failures += 1
        limit = settings.WEBHOOK_PAUSE_AFTER_FAILURES
        pause = refused or schedule.should_pause(subscription.consecutive_failures, limit)
        if pause and subscription.active:
            subscription.active = False
            subscription.paused_reason = _paused_reason(subscription, error)
        subscription.save(update_fields=["consecutive_failures", "active", "paused_reason"])
    return pause


def deliveries_prune(*, days: float) -> int:
    """Delete the rows delivered or given up more than `days` ago; how many."""
    done = [WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED]
    old = WebhookDelivery.objects.filter(status__in=done, created__lt=Now() - timedelta(days=days))
    deleted, _ = old.delete()
    return deleted


def _paused_reason(subscription: WebhookSubscription, error: str) -> str:
    failures = subscription.consecutive_failures
    return f"Paused after {failures} failed deliveries in a row; the last: {error}"[
        :MAX_ERROR_CHARS
    ]
