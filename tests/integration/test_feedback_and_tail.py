"""Thumbs up/down from the chat page's API, and the staff live tail over the real layer."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from chat.models import AuditEvent, Conversation, Feedback, Message

from .conftest import (
    APP,
    chunk_text,
    make_conversation,
    make_user,
    open_socket,
    receive,
    receive_until,
)


@pytest.fixture
def answer(db):
    user = get_user_model().objects.create_user("dana", password="pw-dana-123")
    conversation = Conversation.objects.create(owner=user)
    return Message.objects.create(conversation=conversation, role="assistant", content="Hi")


def feedback_url(message: Message) -> str:
    return f"/api/messages/{message.pk}/feedback/"


@pytest.mark.django_db
def test_thumbs_up_down_change_and_withdraw(client, answer) -> None:
    client.force_login(answer.conversation.owner)
    down = client.post(
        feedback_url(answer),
        {"rating": "down", "comment": " 違う "},
        content_type="application/json",
    )
    assert down.status_code == 200
    assert down.json()["feedback"] == {"rating": "down", "comment": "違う"}
    up = client.post(feedback_url(answer), {"rating": "up"}, content_type="application/json")
    assert up.json()["feedback"] == {"rating": "up", "comment": ""}
    assert Feedback.objects.get().rating == 1
    history = client.get(f"/api/conversations/{answer.conversation_id}/").json()
    assert history["messages"][0]["feedback"] == {"rating": "up", "comment": ""}
    gone = client.post(feedback_url(answer), {"rating": None}, content_type="application/json")
    assert gone.json()["feedback"] is None and not Feedback.objects.exists()


@pytest.mark.django_db
def test_feedback_is_validated_and_owner_only(client, answer) -> None:
    client.force_login(answer.conversation.owner)
    bad = client.post(feedback_url(answer), {"rating": "meh"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["message"]
    long = client.post(
        feedback_url(answer),
        {"rating": "up", "comment": "x" * 2001},
        content_type="application/json",
    )
    assert long.status_code == 400
    user_message = Message.objects.create(
        conversation=answer.conversation, role="user", content="q"
    )
    assert (
        client.post(
            feedback_url(user_message), {"rating": "up"}, content_type="application/json"
        ).status_code
        == 409
    )
    Message.objects.filter(pk=answer.pk).update(status="streaming")
    assert (
        client.post(
            feedback_url(answer), {"rating": "up"}, content_type="application/json"
        ).status_code
        == 409
    )
    other = get_user_model().objects.create_user("eve", password="pw-eve-123")
    client.force_login(other)
    assert (
        client.post(
            feedback_url(answer), {"rating": "up"}, content_type="application/json"
        ).status_code
        == 404
    )
    assert not Feedback.objects.exists()


@database_sync_to_async
def make_staff(view: bool = True):
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("staffer", password="pw-staff-123", is_staff=True)
    if view:
        user.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


async def open_tail(user, conversation):
    from channels.testing import WebsocketCommunicator

    communicator = WebsocketCommunicator(APP, f"/ws/admin/tail/{conversation.pk}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("redis_layer")
async def test_staff_watch_an_answer_live_and_the_user_sees_no_difference(settings) -> None:
    settings.DEMO_TOKEN_DELAY_MS = 15
    owner = await make_user()
    conversation = await make_conversation(owner)
    user_ws = await open_socket(owner, conversation, "token")
    await receive(user_ws)
    await user_ws.send_to(text_data=json.dumps({"type": "user_message", "content": "Watched"}))
    user_frames = await receive_until(user_ws, "start")
    staff = await make_staff()
    tail = await open_tail(staff, conversation)
    history = await receive(tail)
    live = history["messages"][-1]
    assert live["status"] == "streaming"
    await tail.send_to(text_data=json.dumps({"type": "stop"}))
    tail_frames = await receive_until(tail, "error")
    assert tail_frames[-1]["code"] == "read_only"
    tail_frames += await receive_until(tail, "end")
    user_frames += await receive_until(user_ws, "end")
    answer_id = user_frames[1]["message_id"]
    saved = await database_sync_to_async(Message.objects.get)(pk=answer_id)
    assert saved.status == "complete", "the staff stop frame did nothing"
    assert chunk_text(user_frames, answer_id) == saved.content
    assert live["content"] + chunk_text(tail_frames, answer_id) == saved.content
    assert [f["type"] for f in user_frames if f["type"] not in ("chunk",)] == [
        "message",
        "start",
        "end",
    ]
    events = await database_sync_to_async(list)(AuditEvent.objects.values_list("action", flat=True))
    assert events == ["live_tail"]
    await tail.disconnect()
    await user_ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("redis_layer")
@pytest.mark.parametrize("who", ["owner-not-staff", "staff-without-view-permission"])
async def test_live_tail_refuses_non_reviewers(who: str) -> None:
    owner = await make_user()
    conversation = await make_conversation(owner)
    user = owner if who == "owner-not-staff" else await make_staff(view=False)
    tail = await open_tail(user, conversation)
    assert await tail.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("redis_layer")
async def test_a_tail_opened_before_the_exchange_sees_all_of_it(settings) -> None:
    """The transcript page opens its tail at once: a user message sent after that
    reaches the tail as a `message` frame (its text, as the user's tabs get it), then
    the answer streams to it, equal to the saved text. Opening it is audited once."""
    settings.DEMO_TOKEN_DELAY_MS = 5
    owner = await make_user()
    conversation = await make_conversation(owner)
    staff = await make_staff()
    tail = await open_tail(staff, conversation)
    history = await receive(tail)
    assert history["type"] == "history" and history["messages"] == []
    user_ws = await open_socket(owner, conversation, "token")
    await receive(user_ws)
    await user_ws.send_to(
        text_data=json.dumps({"type": "user_message", "content": "Seen <live>", "client_id": "c1"})
    )
    user_frames = await receive_until(user_ws, "end")
    tail_frames = await receive_until(tail, "end")
    (sent,) = [f for f in user_frames if f["type"] == "message"]
    (seen,) = [f for f in tail_frames if f["type"] == "message"]
    assert seen == sent
    assert (seen["role"], seen["content"], seen["status"]) == ("user", "Seen <live>", "complete")
    kinds = [f["type"] for f in tail_frames if f["type"] != "chunk"]
    assert kinds == ["message", "start", "end"]
    answer_id = tail_frames[1]["message_id"]
    answer = await database_sync_to_async(Message.objects.get)(pk=answer_id)
    assert chunk_text(tail_frames, answer_id) == answer.content != ""
    events = await database_sync_to_async(list)(AuditEvent.objects.values_list("action", flat=True))
    assert events == ["live_tail"]
    await tail.disconnect()
    await user_ws.disconnect()
