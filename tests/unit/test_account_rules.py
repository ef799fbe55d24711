"""The pure parts of the account protection: whom a sign-up is counted under, how long a
failing log-in waits, and when mail counts as configured."""

from __future__ import annotations

import pytest

from security.login_throttle import slowdown_seconds
from security.mail import mail_configured
from security.throttle import signup_source


@pytest.mark.parametrize(
    ("client", "counted_as"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2::1", "2001:db8:1:2::"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::"),
        ("2001:db8:1:3::1", "2001:db8:1:3::"),
        ("::ffff:203.0.113.9", "203.0.113.9"),  # an IPv4 client of a dual-stack socket
        ("::1", "::"),
    ],
)
def test_a_signup_is_counted_per_ipv4_address_and_per_ipv6_64(client: str, counted_as: str) -> None:
    assert signup_source(client) == counted_as


@pytest.mark.parametrize(
    ("failures", "wait"),
    [(0, 0), (9, 0), (10, 1), (11, 2), (13, 8), (15, 32), (16, 60), (500, 60)],
)
def test_the_slowdown_doubles_past_the_threshold_up_to_the_cap(
    failures: int, wait: int, settings
) -> None:
    settings.LOGIN_SLOWDOWN_AFTER = 10
    settings.LOGIN_SLOWDOWN_MAX_SECONDS = 60
    assert slowdown_seconds(failures) == wait


@pytest.mark.parametrize(
    ("backend", "host", "configured"),
    [
        ("django.core.mail.backends.smtp.EmailBackend", "", False),
        ("django.core.mail.backends.smtp.EmailBackend", "smtp.example.com", True),
        ("django.core.mail.backends.console.EmailBackend", "", False),
        ("django.core.mail.backends.locmem.EmailBackend", "", False),
        ("anymail.backends.postmark.EmailBackend", "", True),
    ],
)
def test_mail_counts_as_configured_with_a_host_or_a_real_backend(
    backend: str, host: str, configured: bool, settings
) -> None:
    settings.EMAIL_BACKEND, settings.EMAIL_HOST = backend, host
    assert mail_configured() is configured
