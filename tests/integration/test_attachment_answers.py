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

from .conftest import make_conversation, make_user
from .sse import Stream, error_of, post_message, session_client

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
