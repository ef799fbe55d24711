"""Files sent with a message reach the model (issue #25): the request body the loopback
model server records carries the question's text part, each file's text part and the
image as an `image_url` data URL; a model that does not read images refuses them
clearly; a file not the user's, or sent before, is not found."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat.conversations import attachments
from chat.models import Attachment
from tests.support import files
from tests.support.openai_stub import OpenAIStub, Reply

from .conftest import make_conversation, make_user, open_socket, receive, receive_until
from .sse import (
    Stream,
    bearer_client,
    error_of,
    make_token,
    openai_error_of,
    post_message,
    session_client,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]


@database_sync_to_async
def stored(user: Any, name: str, data: bytes) -> str:
    return str(attachments.attachment_create(owner=user, data=data, name=name).pk)


@pytest.fixture
def image_model(stub: OpenAIStub, settings: Any) -> OpenAIStub:
    """The stub configured through LLM_MODELS as a model that reads images."""
    settings.LLM_MODELS = json.dumps(
        [{"name": "vision", "base_url": stub.base_url, "api_key": "sk-x", "images": True}]
    )
    return stub


async def test_the_model_is_sent_the_question_the_file_text_and_the_image(
    image_model: OpenAIStub, settings: Any
) -> None:
    settings.ATTACHMENT_TEXT_CHAR_BUDGET = 30
    image_model.replies.append(Reply(deltas=["Seen."]))
    user = await make_user()
    conversation = await make_conversation(user)
    client = await session_client(user)
    notes = await stored(user, "notes.md", b"# Notes\n" + b"x" * 40)
    picture = await stored(user, "dot.png", files.PNG)
    response = await post_message(
        client, conversation.pk, content="What is in these?", attachments=[notes, picture]
    )
    assert response.status_code == 200
    events = await Stream(response).rest()
    assert events[-1].json()["status"] == "complete"
    (body,) = image_model.requests
    assert body["messages"][-1] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in these?"},
            {
                "type": "text",
                "text": "File notes.md:\n# Notes\n"
                + "x" * 22
                + "\n[… cut: the file is longer than 30 characters]",
            },
            {
                "type": "image_url",
                "image_url": {
                    "url": "data:image/png;base64," + base64.b64encode(files.PNG).decode()
                },
            },
        ],
    }
    tied = await database_sync_to_async(
        lambda: sorted(Attachment.objects.values_list("message_id", "conversation_id"))
    )()
    assert {c for _, c in tied} == {conversation.pk}
    assert len({m for m, _ in tied}) == 1 and None not in {m for m, _ in tied}


async def test_an_image_to_a_model_that_does_not_read_images_is_refused(
    stub: OpenAIStub,
) -> None:
    user = await make_user()
    conversation = await make_conversation(user)
    client = await session_client(user)
    picture = await stored(user, "dot.png", files.PNG)
    response = await post_message(client, conversation.pk, content="Look", attachments=[picture])
    assert response.status_code == 400
    error = error_of(response)
    assert error == {"code": "invalid", "message": "The model stub-model does not read images."}
    assert stub.requests == []


async def test_another_users_file_or_a_sent_one_is_not_found(stub: OpenAIStub) -> None:
    stub.replies.append(Reply(deltas=["Ok."]))
    user, other = await make_user(), await make_user()
    conversation = await make_conversation(user)
    client = await session_client(user)
    theirs = await stored(other, "a.txt", b"secret")
    response = await post_message(client, conversation.pk, content="Read", attachments=[theirs])
    assert (response.status_code, error_of(response)["code"]) == (404, "not_found")
    mine = await stored(user, "a.txt", b"mine")
    response = await post_message(client, conversation.pk, content="Read", attachments=[mine])
    await Stream(response).rest()
    again = await post_message(client, conversation.pk, content="Again", attachments=[mine])
    assert (again.status_code, error_of(again)["code"]) == (404, "not_found")
    bad = await post_message(client, conversation.pk, content="x", attachments="nope")
    assert (bad.status_code, error_of(bad)["code"]) == (400, "bad_frame")


async def v1(client: Any, model: str, content: Any) -> Any:
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    return await client.post(
        "/v1/chat/completions", data=json.dumps(body), content_type="application/json"
    )


async def test_v1_takes_text_and_image_url_parts(image_model: OpenAIStub) -> None:
    """An OpenAI client's content array: its text and its data-URL image reach the
    model as parts; the image is stored as the token user's attachment."""
    image_model.replies.append(Reply(deltas=["A dot."]))
    user = await make_user()
    _, raw = await make_token(user)
    url = "data:image/png;base64," + base64.b64encode(files.PNG).decode()
    response = await v1(
        bearer_client(raw),
        "vision",
        [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": url}},
        ],
    )
    assert response.status_code == 200, response.content
    assert json.loads(response.content)["choices"][0]["message"]["content"] == "A dot."
    (body,) = image_model.requests
    assert body["messages"][-1]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    kinds = await database_sync_to_async(
        lambda: list(Attachment.objects.filter(owner=user).values_list("kind", "message__role"))
    )()
    assert kinds == [("image", "user")]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://example.com/cat.png", "Images must be sent as data: URLs"),
        ("data:image/png;base64,!!!", "The image's data URL is not valid base64."),
        (
            "data:image/png;base64," + base64.b64encode(b"plain text").decode(),
            "An image_url part must hold an image.",
        ),
    ],
)
async def test_v1_refuses_remote_and_broken_images(
    image_model: OpenAIStub, url: str, says: str
) -> None:
    user = await make_user()
    _, raw = await make_token(user)
    response = await v1(
        bearer_client(raw),
        "vision",
        [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "Hi"}],
    )
    assert response.status_code == 400
    assert openai_error_of(response)["message"].startswith(says)
    assert image_model.requests == []
    assert not await Attachment.objects.filter(owner=user).aexists()


async def test_v1_image_to_a_model_without_images_is_refused_and_not_kept(
    stub: OpenAIStub,
) -> None:
    user = await make_user()
    _, raw = await make_token(user)
    url = "data:image/png;base64," + base64.b64encode(files.PNG).decode()
    response = await v1(
        bearer_client(raw),
        "stub-model",
        [{"type": "text", "text": "Hi"}, {"type": "image_url", "image_url": {"url": url}}],
    )
    assert response.status_code == 400
    assert openai_error_of(response)["message"] == "The model stub-model does not read images."
    assert not await Attachment.objects.filter(owner=user).aexists()
    assert stub.requests == []


async def test_a_socket_user_message_carries_files(image_model: OpenAIStub) -> None:
    """The WebSocket's `user_message` with `attachments`: the `message` frame lists the
    file and the model gets the question and the image as parts; a regenerate sends
    them again."""
    image_model.replies += [Reply(deltas=["One."]), Reply(deltas=["Two."])]
    user = await make_user()
    conversation = await make_conversation(user)
    picture = await stored(user, "dot.png", files.PNG)
    ws = await open_socket(user, conversation)
    assert (await receive(ws))["type"] == "history"
    await ws.send_to(
        text_data=json.dumps({"type": "user_message", "content": "See", "attachments": [picture]})
    )
    frames = await receive_until(ws, "end")
    (message,) = [f for f in frames if f["type"] == "message"]
    assert [a["name"] for a in message["attachments"]] == ["dot.png"]
    answer = next(f for f in frames if f["type"] == "end")["message_id"]
    await ws.send_to(text_data=json.dumps({"type": "regenerate", "message_id": answer}))
    await receive_until(ws, "end")
    await ws.disconnect()
    image = {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(files.PNG).decode()},
    }
    for body in image_model.requests:
        assert body["messages"][-1]["content"] == [{"type": "text", "text": "See"}, image]
    assert len(image_model.requests) == 2
