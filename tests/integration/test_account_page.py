"""The account page (issue #24): the signed-in sessions (device, address, last seen),
signing out of all others, and deleting the account after the password."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from chat.models import ApiToken, Conversation, Message, Preset, SignedInSession

pytestmark = pytest.mark.django_db
PASSWORD = "x-pass-123-long"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def user() -> Any:
    return get_user_model().objects.create_user("alice", password=PASSWORD)


def signed_in(user_agent: str, address: str) -> Client:
    """A browser that logs in through the real log-in form."""
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=address)
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def test_the_page_lists_each_signed_in_session(user: Any) -> None:
    laptop = signed_in(CHROME_WINDOWS, "203.0.113.7")
    signed_in(SAFARI_IPHONE, "198.51.100.9")
    page = laptop.get("/settings/account/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Chrome on Windows" in html and "(this browser)" in html
    assert "Safari on iPhone" in html
    assert "203.0.113.7" in html and "198.51.100.9" in html
    assert SignedInSession.objects.filter(user=user).count() == 2
    assert 'href="/api/export/"' in html  # export everything
    assert laptop.get("/api/export/").status_code == 200


def test_last_seen_moves_on_at_most_once_a_minute(user: Any) -> None:
    laptop = signed_in(CHROME_WINDOWS, "203.0.113.7")
    record = SignedInSession.objects.get(user=user)
    first = record.last_seen
    laptop.get("/")
    record.refresh_from_db()
    assert record.last_seen == first  # seen a moment ago: not written again
    earlier = timezone.now() - timedelta(minutes=5)
    SignedInSession.objects.filter(pk=record.pk).update(last_seen=earlier)
    laptop.get("/")
    record.refresh_from_db()
    assert record.last_seen > earlier + timedelta(minutes=4)


def test_signing_out_of_the_others_ends_them_and_keeps_this_one(user: Any) -> None:
    laptop = signed_in(CHROME_WINDOWS, "203.0.113.7")
    phone = signed_in(SAFARI_IPHONE, "198.51.100.9")
    tablet = signed_in(SAFARI_IPHONE, "198.51.100.10")
    other_user = get_user_model().objects.create_user("bob", password=PASSWORD)
    bob = Client()
    bob.force_login(other_user)
    response = laptop.post("/settings/account/", {"action": "end-others"}, follow=True)
    assert "Signed out of 2 other sessions." in response.content.decode()
    assert phone.get("/").status_code == 302  # to the log-in page
    assert tablet.get("/").status_code == 302
    assert laptop.get("/").status_code == 200
    assert bob.get("/").status_code == 200  # another user's sessions are untouched
    assert SignedInSession.objects.filter(user=user).count() == 1
    assert Session.objects.count() == 2


def test_an_api_token_cannot_open_the_account_page(user: Any) -> None:
    from chat.accounts import api_tokens

    _, raw = api_tokens.token_create(user=user, name="script")
    response = Client().get("/settings/account/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code in (401, 403)


def test_deleting_the_account_asks_the_password_then_removes_everything(user: Any) -> None:
    laptop = signed_in(CHROME_WINDOWS, "203.0.113.7")
    conversation = Conversation.objects.create(owner=user, title="mine")
    Message.objects.create(conversation=conversation, role="user", content="hello")
    Preset.objects.create(owner=user, name="p")
    from chat.accounts import api_tokens

    api_tokens.token_create(user=user, name="script")
    bob = get_user_model().objects.create_user("bob", password=PASSWORD)
    Conversation.objects.create(owner=bob, title="bob's")

    wrong = laptop.post(
        "/settings/account/", {"action": "delete", "password": "nope", "confirm": "on"}
    )
    assert "That is not your password." in wrong.content.decode()
    unticked = laptop.post("/settings/account/", {"action": "delete", "password": PASSWORD})
    assert "Tick the box to confirm." in unticked.content.decode()
    assert get_user_model().objects.filter(pk=user.pk).exists()

    done = laptop.post(
        "/settings/account/",
        {"action": "delete", "password": PASSWORD, "confirm": "on"},
        follow=True,
    )
    assert "Your account and all its conversations were deleted." in done.content.decode()
    assert not get_user_model().objects.filter(pk=user.pk).exists()
    assert not Conversation.objects.filter(owner_id=user.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert not ApiToken.objects.filter(user_id=user.pk).exists()
    assert not SignedInSession.objects.filter(user_id=user.pk).exists()
    assert Conversation.objects.filter(owner=bob).count() == 1
    assert laptop.get("/").status_code == 302  # signed out


def test_an_account_with_an_answer_streaming_is_not_deleted_yet(user: Any) -> None:
    laptop = signed_in(CHROME_WINDOWS, "203.0.113.7")
    conversation = Conversation.objects.create(owner=user)
    Message.objects.create(conversation=conversation, role="assistant", status="streaming")
    response = laptop.post(
        "/settings/account/", {"action": "delete", "password": PASSWORD, "confirm": "on"}
    )
    assert "An answer is still being written" in response.content.decode()
    assert get_user_model().objects.filter(pk=user.pk).exists()
