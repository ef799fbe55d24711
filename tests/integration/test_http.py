"""Accounts, pages and the JSON API through Django's test client and the real database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from chat.conversations import selectors
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user("alice", password="secret-pass-123")


@pytest.fixture
def alice(client, user):
    client.force_login(user)
    return client


def test_signup_logs_in_and_opens_the_chat(client) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9",
        },
    )
    assert response.status_code == 302 and response.url == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert b'id="chat-config"' in page.content and b"newbie" in page.content


def test_signup_rejects_bad_input_readably(client) -> None:
    response = client.post(
        "/accounts/signup/", {"username": "x", "password1": "short", "password2": "other"}
    )
    assert response.status_code == 200
    assert b"didn" in response.content or b"match" in response.content
    assert not get_user_model().objects.filter(username="x").exists()


def test_login_page_and_chat_page_need_login(client, user) -> None:
    assert client.get("/").url.startswith("/accounts/login/")
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": "secret-pass-123"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_api_requires_login_with_json_401(client) -> None:
    response = client.get("/api/conversations/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_api_create_list_read_rename_delete(alice, user) -> None:
    created = alice.post(
        "/api/conversations/", {"title": " Trip "}, content_type="application/json"
    )
    assert created.status_code == 201
    conversation_id = created.json()["id"]
    assert created.json()["title"] == "Trip"
    alice.post("/api/conversations/", {}, content_type="application/json")
    listed = alice.get("/api/conversations/").json()["conversations"]
    assert len(listed) == 2 and listed[1]["id"] == conversation_id  # newest first
    Message.objects.create(conversation_id=conversation_id, role="user", content="日本語 ok")
    read = alice.get(f"/api/conversations/{conversation_id}/").json()
    assert [m["content"] for m in read["messages"]] == ["日本語 ok"]
    renamed = alice.patch(
        f"/api/conversations/{conversation_id}/",
        {"title": "Kyoto"},
        content_type="application/json",
    )
    assert renamed.json()["title"] == "Kyoto"
    assert alice.delete(f"/api/conversations/{conversation_id}/").status_code == 204
    assert not Conversation.objects.filter(pk=conversation_id).exists()
    assert not Message.objects.filter(conversation_id=conversation_id).exists()


def test_api_read_sweeps_an_answer_left_streaming_by_a_dead_process(alice, user) -> None:
    """The read itself (selectors) has no side effect; the API's GET sweeps first."""
    conversation = Conversation.objects.create(owner=user)
    question = Message.objects.create(
        conversation=conversation, role="user", content="Hi", client_id="c-9"
    )
    orphan = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", status="streaming"
    )
    Message.objects.filter(pk=orphan.pk).update(updated=timezone.now() - timedelta(hours=1))
    assert selectors.conversation_messages(conversation_id=conversation.pk)[1].status == "streaming"
    read = alice.get(f"/api/conversations/{conversation.pk}/").json()
    assert [(m["status"], m["error_code"]) for m in read["messages"]] == [
        ("complete", ""),
        ("error", "interrupted"),
    ]
    assert [m["client_id"] for m in read["messages"]] == ["c-9", None]
    assert Message.objects.get(pk=orphan.pk).status == "error"


def test_api_hides_other_users_conversations(alice) -> None:
    bob = get_user_model().objects.create_user("bob", password="secret-pass-123")
    theirs = Conversation.objects.create(owner=bob, title="private")
    assert alice.get("/api/conversations/").json() == {"conversations": []}
    for method in ("get", "patch", "delete"):
        response = getattr(alice, method)(
            f"/api/conversations/{theirs.pk}/", {"title": "x"}, content_type="application/json"
        )
        assert response.status_code == 404
    assert alice.get("/api/conversations/not-a-uuid/").status_code == 404
    assert Conversation.objects.get(pk=theirs.pk).title == "private"


@pytest.mark.parametrize(
    "body",
    ["not json", "[1]", json.dumps({"title": "x" * 201}), json.dumps({"title": 5 * "é" * 50})],
)
def test_api_validates_bodies(alice, body: str) -> None:
    response = alice.post("/api/conversations/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_api_enforces_csrf_on_writes(user) -> None:
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert (
        client.post("/api/conversations/", {}, content_type="application/json").status_code == 403
    )
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/api/conversations/", {}, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201


def test_pages_carry_a_content_security_policy(alice) -> None:
    """Second line of defence for rendered model output: only same-origin scripts run."""
    policy = alice.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy
    assert "img-src 'self' data:" in policy


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"title": 1e999999}',
        '{"title": NaN}',
        '{"title": ' + "9" * 5000 + "}",
        b"\xff\xfe not utf-8",
    ],
)
def test_pathological_json_gets_a_400_not_a_traceback(alice, body) -> None:
    response = alice.post("/api/conversations/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
