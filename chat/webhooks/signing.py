"""The signature of a delivery, as Stripe signs its webhooks: HMAC-SHA256 of
`"{timestamp}.{body}"` with the subscription's secret, sent as
`X-Chat-Signature: t=<timestamp>,v1=<hex>`. A receiver recomputes it from the raw body
and refuses an old timestamp (a replay)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

HEADER = "X-Chat-Signature"
SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300  # what a receiver should accept; `verify`'s default


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `"{timestamp}.{body}"`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, *, now: int, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: the header's timestamp is recent and one `v1` matches."""
    fields = [part.partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in fields if key.strip() == "t"]
    signatures = [value for key, _, value in fields if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].isascii() or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in signatures)
