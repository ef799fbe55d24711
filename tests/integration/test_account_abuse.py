"""Accounts under attack (issue #21): the log-in slowdown and a password-guessing flood,
sign-up that names no existing account and counts IPv6 networks and everyone, and the
password-reset pages only when mail can be sent."""

from __future__ import annotations

import importlib
import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client, override_settings
from django.urls import clear_url_caches
from django.utils import timezone

from security.models import SignupAttempt

PASSWORD = "a-long-passphrase-9"
LOGIN = "/accounts/login/"
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # 1,000 checks in seconds


def log_in(username: str, password: str, ip: str) -> Any:
    """One log-in from a fresh client (no cookie links the attempts: only the address)."""
    return Client().post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def failed(username: str, ip: str, failures: int, seconds_ago: float = 0) -> None:
    """Failures as django-axes records them, `seconds_ago` after the latest."""
    AccessAttempt.objects.create(
        username=username,
        ip_address=ip,
        user_agent="<unknown>",
        get_data="",
        post_data="",
        http_accept="*/*",
        path_info=LOGIN,
        failures_since_start=failures,
        attempt_time=timezone.now() - timedelta(seconds=seconds_ago),
    )


@pytest.fixture
def owners(db: Any, settings: Any) -> list[str]:
    settings.PASSWORD_HASHERS = FAST_HASHER
    names = [f"owner{i}" for i in range(5)]
    for name in names:
        get_user_model().objects.create_user(name, password=PASSWORD)
    return names


# --- The log-in slowdown ------------------------------------------------------------------


def test_an_address_that_keeps_failing_is_slowed_down_not_locked_out(
    owners: list[str], settings: Any
) -> None:
    settings.LOGIN_SLOWDOWN_AFTER = 10
    # Fourteen failures over seven names from one address: no pair is locked out, but
    # the address waits 2^4 = 16 s after its latest failure, whatever name it tries.
    for i in range(7):
        failed(f"guess{i}", "10.5.0.1", 2)
    refused = log_in("owner0", PASSWORD, "10.5.0.1")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 16
    assert "Too many log-in attempts. Try again in" in refused.content.decode()
    assert_untouched = AccessAttempt.objects.filter(ip_address="10.5.0.1").count()
    assert assert_untouched == 7  # a refused attempt is no failure: the wait stays put
    # Other addresses are not slowed; once the wait is over, the address logs in.
    assert log_in("owner0", PASSWORD, "10.5.0.2").status_code == 302
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(seconds=17))
    assert log_in("owner0", PASSWORD, "10.5.0.1").status_code == 302


def test_a_name_that_keeps_failing_slows_its_failing_addresses_not_its_owner(
    owners: list[str], settings: Any
) -> None:
    settings.LOGIN_SLOWDOWN_AFTER = 10
    # Thirty failures for owner1 from fifteen addresses: each address is far from its
    # own limits, the name is not (a wait of LOGIN_SLOWDOWN_MAX_SECONDS).
    for i in range(15):
        failed("owner1", f"10.6.0.{i}", 2)
    refused = log_in("owner1", PASSWORD, "10.6.0.3")  # an address that failed on it
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= settings.LOGIN_SLOWDOWN_MAX_SECONDS
    # A new address gets its one try, then waits with the others.
    assert log_in("owner1", "wrong", "10.6.1.1").status_code == 200
    assert log_in("owner1", "wrong", "10.6.1.1").status_code == 429
    # The owner, from an address that has not failed on the name, is never slowed.
    assert log_in("owner1", PASSWORD, "10.6.9.9").status_code == 302


@pytest.mark.timeout(120)
def test_a_guessing_flood_never_refuses_the_owners(owners: list[str], settings: Any) -> None:
    """1,000 wrong passwords from 50 addresses against 5 accounts; between them each
    owner logs in from their own address with the right password, every time."""
    outcomes: Counter[str] = Counter()
    owner_logins = 0
    for i in range(1000):
        ip = f"198.51.100.{i % 50 + 1}"
        name = owners[(i // 50 + i) % 5]
        response = log_in(name, f"guess-{i}", ip)
        body = response.content.decode()
        if response.status_code == 200:
            outcomes["checked"] += 1
        elif "Too many failed log-in attempts" in body:
            outcomes["locked"] += 1
        elif "Too many log-in attempts" in body:
            outcomes["slowed"] += 1
        else:
            raise AssertionError(f"{response.status_code}: {body[:200]}")
        if i % 20 == 19:
            owner = owners[i // 20 % 5]
            response = log_in(owner, PASSWORD, f"192.0.2.{owners.index(owner) + 1}")
            assert response.status_code == 302, (i, owner, response.content[:300])
            owner_logins += 1
    assert owner_logins == 50
    print(f"guessing flood outcomes: {dict(outcomes)}")
    # Most guesses never reach a password check.
    assert outcomes["checked"] < 500, outcomes
    assert outcomes["locked"] + outcomes["slowed"] > 500, outcomes


# --- Sign-up: no names revealed, networks and everyone counted ----------------------------


def sign_up(username: str, ip: str, **extra: Any) -> Any:
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    return Client().post("/accounts/signup/", data, REMOTE_ADDR=ip, **extra)


@pytest.mark.django_db
def test_signup_does_not_say_whether_a_username_exists() -> None:
    get_user_model().objects.create_user("taken", password=PASSWORD)
    pages = [sign_up(name, f"10.7.0.{i}") for i, name in enumerate(["taken", "TAKEN", "root"])]
    for page in pages:
        body = page.content.decode()
        assert page.status_code == 200
        assert "exist" not in body.lower()
        assert "This username is not available. Choose another." in body
    assert get_user_model().objects.filter(username__iexact="taken").count() == 1
    assert not get_user_model().objects.filter(username="root").exists()
    assert sign_up("fresh", "10.7.0.9").status_code == 302  # a free name: in at once


@pytest.mark.django_db
def test_the_signup_throttle_counts_an_ipv6_64_as_one_address(settings: Any) -> None:
    settings.SIGNUP_RATE_LIMIT = 2
    assert sign_up("six1", "2001:db8:1:2::1").status_code == 302
    assert sign_up("six2", "2001:db8:1:2:ffff::2").status_code == 302
    refused = sign_up("six3", "2001:db8:1:2:abcd:ef01:2345:6789")
    assert refused.status_code == 429
    assert "from your address" in refused.content.decode()
    assert sign_up("six4", "2001:db8:1:3::1").status_code == 302  # the next /64
    assert set(SignupAttempt.objects.values_list("ip_address", flat=True)) == {
        "2001:db8:1:2::",
        "2001:db8:1:3::",
    }


@pytest.mark.django_db
def test_the_signup_throttle_also_counts_everyone(settings: Any) -> None:
    settings.SIGNUP_GLOBAL_RATE_LIMIT = 3
    for i in range(3):
        assert sign_up(f"many{i}", f"10.8.0.{i}").status_code == 302
    refused = sign_up("many3", "10.8.0.3")
    assert refused.status_code == 429
    assert "Too many sign-ups. Try again in 60 minutes." in refused.content.decode()
    assert 3590 <= int(refused["Retry-After"]) <= 3600
    assert SignupAttempt.objects.count() == 3  # the refused one wrote nothing
    assert not get_user_model().objects.filter(username="many3").exists()


# --- Password reset only with mail ----------------------------------------------------------


def reload_urls() -> None:
    import chatsite.urls

    importlib.reload(chatsite.urls)
    clear_url_caches()


@pytest.fixture
def mail_configured(settings: Any) -> Iterator[None]:
    """An SMTP server named; Django's test runner keeps the locmem backend."""
    with override_settings(EMAIL_HOST="smtp.example.com"):
        reload_urls()
        yield
    reload_urls()


@pytest.mark.django_db
def test_without_mail_there_are_no_password_reset_pages(client: Client) -> None:
    for path in (
        "/accounts/password_reset/",
        "/accounts/password_reset/done/",
        "/accounts/reset/done/",
    ):
        assert client.get(path).status_code == 404
    assert client.post("/accounts/password_reset/", {"email": "a@example.com"}).status_code == 404
    assert b"password_reset" not in client.get(LOGIN).content
    assert mail.outbox == []


@pytest.mark.django_db
def test_with_mail_a_password_can_be_reset(client: Client, mail_configured: None) -> None:
    user = get_user_model().objects.create_user("forgetful", "f@example.com", PASSWORD)
    assert b'href="/accounts/password_reset/"' in client.get(LOGIN).content
    assert client.get("/accounts/password_reset/").status_code == 200
    sent = client.post("/accounts/password_reset/", {"email": "f@example.com"})
    assert sent.status_code == 302 and sent.url == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["f@example.com"]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200
    new = "another-long-passphrase-7"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done.status_code == 302 and done.url == "/accounts/reset/done/"
    user.refresh_from_db()
    assert user.check_password(new)
