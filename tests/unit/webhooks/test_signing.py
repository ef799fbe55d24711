"""The delivery's signature, as Stripe's: HMAC-SHA256 of "{t}.{body}"."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from chat.webhooks import signing

SECRET = "whsec_test"
BODY = b'{"text": "hi"}'


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signing.signature_header(SECRET, 1700000000, BODY) == f"t=1700000000,v1={expected}"


@pytest.mark.parametrize(
    ("secret", "body", "now", "ok"),
    [
        (SECRET, BODY, 1700000000, True),
        (SECRET, BODY, 1700000000 + 299, True),
        (SECRET, BODY, 1700000000 + 301, False),  # too old: a replay
        (SECRET, BODY, 1700000000 - 301, False),
        ("whsec_other", BODY, 1700000000, False),
        (SECRET, b'{"text": "hi!"}', 1700000000, False),  # the body changed
    ],
)
def test_a_receiver_verifies_it(secret: str, body: bytes, now: int, ok: bool) -> None:
    header = signing.signature_header(SECRET, 1700000000, BODY)
    assert signing.verify(secret, header, body, now=now) is ok


@pytest.mark.parametrize("header", ["", "v1=abc", "t=x,v1=abc", "t=1,t=2,v1=abc", "t=²,v1=a"])
def test_a_malformed_header_is_refused(header: str) -> None:
    assert signing.verify(SECRET, header, BODY, now=1) is False


def test_secrets_are_new_and_long() -> None:
    one, two = signing.new_secret(), signing.new_secret()
    assert one != two and one.startswith("whsec_") and len(one) > 40
