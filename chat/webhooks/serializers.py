"""The JSON shapes of a subscription and a delivery (the API's)."""

from __future__ import annotations

from typing import Any

from chat.models import WebhookDelivery, WebhookSubscription


def subscription_to_dict(
    subscription: WebhookSubscription, *, with_secret: bool = False
) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "id": subscription.pk,
        "url": subscription.url,
        "conversation_id": (
            str(subscription.conversation_id) if subscription.conversation_id else None
        ),
        "mode": subscription.mode,
        "format": subscription.format,
        "active": subscription.active,
        "paused_reason": subscription.paused_reason,
        "consecutive_failures": subscription.consecutive_failures,
        "created": subscription.created.isoformat(),
    }
    if with_secret:
        shape["secret"] = subscription.secret
    return shape


def delivery_to_dict(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.pk,
        "message_id": str(delivery.message_id),
        "seq": delivery.seq,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at.isoformat(),
        "last_error": delivery.last_error,
        "response_status": delivery.response_status,
        "created": delivery.created.isoformat(),
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
    }
