"""Who may read /metrics (chat/metrics.py)."""

from __future__ import annotations

import pytest

from chat.telemetry.metrics import metrics_allowed


@pytest.mark.parametrize(
    ("token", "authorization", "remote_addr", "proxied", "allowed"),
    [
        # No token: this machine's loopback, straight, only.
        ("", None, "127.0.0.1", False, True),
        ("", None, "127.8.9.1", False, True),
        ("", None, "::1", False, True),
        ("", None, "10.0.0.5", False, False),
        ("", None, "127.0.0.1", True, False),  # through a proxy on this machine
        ("", None, "", False, False),
        ("", None, None, False, False),
        ("", None, "localhost", False, False),  # not an address
        ("", "Bearer anything", "10.0.0.5", False, False),  # no token: no bearer either
        # A token: the Authorization header alone decides.
        ("s3cret", "Bearer s3cret", "10.0.0.5", True, True),
        ("s3cret", "bearer s3cret", "10.0.0.5", False, True),
        ("s3cret", "Bearer s3cret ", "10.0.0.5", False, True),
        ("s3cret", None, "127.0.0.1", False, False),
        ("s3cret", "Bearer wrong", "127.0.0.1", False, False),
        ("s3cret", "Bearer s3cre", "127.0.0.1", False, False),
        ("s3cret", "Basic s3cret", "127.0.0.1", False, False),
        ("s3cret", "s3cret", "127.0.0.1", False, False),
        ("s3cret", "Bearer ", "127.0.0.1", False, False),
    ],
)
def test_metrics_access_rule(
    token: str, authorization: str | None, remote_addr: str | None, proxied: bool, allowed: bool
) -> None:
    assert (
        metrics_allowed(
            token=token, authorization=authorization, remote_addr=remote_addr, proxied=proxied
        )
        is allowed
    )
