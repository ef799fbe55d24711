"""Regenerate, edit, continue and switch branches over the real channel layer, the
database and the real ChatOpenAI client against the loopback model server: every tab
sees it, the model receives exactly the path being continued, the saved text equals
what was shown."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat.models import Conversation, Message
from chat.streaming.answer.exchanges import CONTINUE_PROMPT
from tests.support.openai_stub import Reply

from .conftest import (
    chunk_text,
    open_chat,
    open_socket,
    receive,
    receive_until,
    saved,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_layer")]

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}


async def send(ws: Any, **frame: Any) -> None:
    await ws.send_to(text_data=json.dumps(frame))


def model_input(request: dict[str, Any]) -> list[tuple[str, str]]:
    """What the model server received, without the system prompt."""
    return [(m["role"], m["content"]) for m in request["messages"] if m["role"] != "system"]


async def ask(ws: Any, content: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Send a question; its `message` frame and the answer's frames up to `end`."""
    await send(ws, type="user_message", content=content)
    message = await receive(ws)
    assert message["type"] == "message", message
    return message, await receive_until(ws, "end")


def started(frames: list[dict[str, Any]]) -> dict[str, Any]:
    return next(f for f in frames if f["type"] == "start")


@database_sync_to_async
def leaf_of(conversation: Conversation) -> str:
    return str(Conversation.objects.get(pk=conversation.pk).leaf_id)


async def test_regenerate_keeps_the_first_answer_and_the_model_gets_the_same_path(
    stub, settings
) -> None:
    settings.LLM_SYSTEM_PROMPT = SYSTEM["content"]
    _user, conversation, ws = await open_chat()
    q1, a1 = await ask(ws, "First question")
    q2, a2 = await ask(ws, "Second question")
    first_answer = started(a2)["message_id"]
    stub.replies.append(Reply(deltas=["Another", " try."]))
    await send(ws, type="regenerate", message_id=first_answer)
    frames = await receive_until(ws, "end")
    start = started(frames)
    new_answer = start["message_id"]
    assert start["parent_id"] == q2["id"] and start["siblings"] == [first_answer, new_answer]
    assert frames[-1]["status"] == "complete"
    assert chunk_text(frames, new_answer) == (await saved(new_answer)).content == "Another try."
    # The model answered the same question after the same path, nothing more.
    assert model_input(stub.requests[-1]) == [
        ("user", "First question"),
        ("assistant", chunk_text(a1, started(a1)["message_id"])),
        ("user", "Second question"),
    ]
    assert stub.requests[-1]["messages"][0] == SYSTEM
    # Both answers are kept; a new tab shows the new one, with its sibling.
    assert (await saved(first_answer)).content == "Hello from the stub."
    assert await leaf_of(conversation) == new_answer
    other = await open_socket(_user, conversation)
    history = await receive(other)
    assert [m["id"] for m in history["messages"]] == [
        q1["id"],
        started(a1)["message_id"],
        q2["id"],
        new_answer,
    ]
    assert history["messages"][-1]["siblings"] == [first_answer, new_answer]
    await other.disconnect()
    await ws.disconnect()


async def test_edit_branches_and_switching_shows_the_old_branch_in_every_tab(stub) -> None:
    user, conversation, ws = await open_chat()
    q1, a1 = await ask(ws, "Plan a trip to Kyoto")
    q2, a2 = await ask(ws, "And Osaka?")
    old_branch = [q1["id"], started(a1)["message_id"], q2["id"], started(a2)["message_id"]]
    watching = await open_socket(user, conversation)
    await receive(watching)  # its history
    # Edit the first question: a new branch from the root, the old one stays.
    await send(ws, type="edit", message_id=q1["id"], content="Plan a trip to Nara")
    edited = await receive(ws)
    assert edited["type"] == "message" and edited["parent_id"] is None
    assert edited["siblings"] == [q1["id"], edited["id"]]
    frames = await receive_until(ws, "end")
    assert started(frames)["parent_id"] == edited["id"]
    assert model_input(stub.requests[-1]) == [("user", "Plan a trip to Nara")]
    # The other tab saw the edit live, as the same frames.
    seen = await receive_until(watching, "end")
    assert [f for f in seen if f["type"] == "message"] == [edited]
    assert chunk_text(seen, started(frames)["message_id"]) == chunk_text(
        frames, started(frames)["message_id"]
    )
    # Switching back to the first version shows its whole branch in both tabs.
    await send(watching, type="switch", message_id=q1["id"])
    for tab in (ws, watching):
        history = await receive(tab)
        assert history["type"] == "history"
        assert [m["id"] for m in history["messages"]] == old_branch
        assert history["messages"][0]["siblings"] == [q1["id"], edited["id"]]
    # The next question continues the branch shown: the model gets that path.
    _, after = await ask(ws, "Thanks")
    assert [role for role, _ in model_input(stub.requests[-1])] == ["user", "assistant"] * 2 + [
        "user"
    ]
    assert model_input(stub.requests[-1])[0] == ("user", "Plan a trip to Kyoto")
    assert after[-1]["status"] == "complete"
    await watching.disconnect()
    await ws.disconnect()


async def test_continue_a_cut_off_answer_as_a_new_version_that_starts_with_its_text(
    stub,
) -> None:
    _user, _conversation, ws = await open_chat()
    stub.replies.append(Reply(deltas=["The first", " half"], finish_reason="length"))
    _, frames = await ask(ws, "Tell me a long story")
    cut = started(frames)["message_id"]
    assert (await saved(cut)).finish_reason == "length"
    stub.replies.append(Reply(deltas=[" and the", " second half."]))
    await send(ws, type="continue", message_id=cut)
    frames = await receive_until(ws, "end")
    start = started(frames)
    assert start["siblings"] == [cut, start["message_id"]]
    whole = "The first half and the second half."
    assert chunk_text(frames, start["message_id"]) == whole
    assert (await saved(start["message_id"])).content == whole
    assert (await saved(cut)).content == "The first half"  # kept as it was
    assert model_input(stub.requests[-1]) == [
        ("user", "Tell me a long story"),
        ("assistant", "The first half"),
        ("user", CONTINUE_PROMPT),
    ]
    await ws.disconnect()


async def test_branch_frames_that_cannot_apply_get_a_clear_error_and_save_nothing(
    stub, settings
) -> None:
    settings.DEMO_TOKEN_DELAY_MS = 2
    _user, conversation, ws = await open_chat()
    question, frames = await ask(ws, "Hello")
    answer = started(frames)["message_id"]
    _, _, theirs = await open_chat()
    await send(theirs, type="user_message", content="Mine")
    their_question = await receive(theirs)
    await receive_until(theirs, "end")
    cases = [
        ({"type": "regenerate", "message_id": question["id"]}, "bad_frame"),
        ({"type": "edit", "message_id": answer, "content": "x"}, "bad_frame"),
        ({"type": "continue", "message_id": answer}, "bad_frame"),  # complete: not cut off
        ({"type": "regenerate", "message_id": their_question["id"]}, "not_found"),
        ({"type": "switch", "message_id": their_question["id"]}, "not_found"),
        ({"type": "switch", "message_id": "not-an-id"}, "not_found"),
        ({"type": "regenerate"}, "bad_frame"),
        ({"type": "edit", "message_id": question["id"], "content": "  "}, "bad_frame"),
    ]
    for frame, code in cases:
        await send(ws, **frame)
        error = await receive(ws)
        assert (error["type"], error["code"]) == ("error", code), frame
    count = await database_sync_to_async(Message.objects.filter(conversation=conversation).count)()
    assert count == 2
    # While an answer streams, the branch shown cannot change.
    stub.replies.append(Reply(deltas=["slow"] * 20, delay=0.05))
    await send(ws, type="user_message", content="Long one")
    await receive(ws)
    await send(ws, type="switch", message_id=question["id"])
    frames = await receive_until(ws, "error")
    assert frames[-1]["code"] == "busy"
    await send(ws, type="stop")
    await receive_until(ws, "end")
    await theirs.disconnect()
    await ws.disconnect()
