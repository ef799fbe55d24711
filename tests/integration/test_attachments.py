"""Files attached to messages (issue #25) over the real database and storage (a
temporary MEDIA_ROOT): upload with limits and type detection from the content,
served only to the owner and staff as a download, removed from storage with their
row, their conversation and their account."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from chat.accounts import api_tokens as tokens
from chat.conversations import attachments
from chat.models import Attachment, AuditEvent, Conversation, Message
from tests.support import files

from .test_porting import streamed

pytestmark = pytest.mark.django_db(transaction=True)


def stored_files(settings: Any) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def login(name: str, *, staff: bool = False) -> tuple[Client, Any]:
    make = (
        get_user_model().objects.create_superuser if staff else get_user_model().objects.create_user
    )
    user = make(name, password="secret-pass-123")
    client = Client()
    client.force_login(user)
    return client, user


def upload(client: Client, name: str, data: bytes, **headers: str) -> Any:
    return client.post("/api/attachments/", {"file": SimpleUploadedFile(name, data)}, **headers)


def test_upload_stores_the_file_and_answers_what_it_is(settings: Any) -> None:
    """201 with id, name, size, kind and type; the file is stored under the user's
    folder by a random name, and its text kept."""
    client, user = login("alice")
    response = upload(client, "notes.md", b"# Notes\n\nHello.")
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "name": "notes.md",
        "size": 15,
        "kind": "text",
        "mime": "text/plain",
        "url": f"/api/attachments/{body['id']}/",
    }
    attachment = Attachment.objects.get(pk=body["id"])
    assert attachment.file.name.startswith(f"attachments/{user.pk}/")
    assert "notes" not in attachment.file.name
    assert attachment.text == "# Notes\n\nHello."
    assert len(stored_files(settings)) == 1


@pytest.mark.parametrize(
    ("name", "data", "status", "code", "message"),
    [
        ("big.txt", b"x" * 2001, 413, "too_long", "The file is larger than 0.002 MB"),
        ("setup.txt", files.EXE, 400, "invalid", "This kind of file is not supported."),
        ("photo.png", b"not a picture", 400, "invalid", "This kind of file is not supported."),
        ("a.zip", files.ZIP, 400, "invalid", "This kind of file is not supported."),
        ("locked.pdf", files.encrypted_pdf(), 400, "invalid", "This PDF is encrypted"),
        ("empty.txt", b"", 400, "invalid", "The file is empty."),
    ],
)
def test_refused_uploads_store_nothing(
    settings: Any, name: str, data: bytes, status: int, code: str, message: str
) -> None:
    """Oversize, unsupported, disguised and unreadable files: a clear error, no row, no file."""
    settings.ATTACHMENT_MAX_BYTES = 2000
    client, _ = login("alice")
    response = upload(client, name, data)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"].startswith(message)
    assert not Attachment.objects.exists()
    assert stored_files(settings) == []


def test_the_per_user_limit_refuses_with_storage_full(settings: Any) -> None:
    settings.ATTACHMENT_MAX_BYTES_PER_USER = 25
    client, _ = login("alice")
    assert upload(client, "a.txt", b"x" * 20).status_code == 201
    response = upload(client, "b.txt", b"y" * 10)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "storage_full"
    assert len(stored_files(settings)) == 1


def test_no_file_field_is_a_bad_request() -> None:
    client, _ = login("alice")
    response = client.post("/api/attachments/", {"other": "x"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "bad_request")


def test_the_owner_downloads_it_as_an_attachment_never_inline() -> None:
    """Text (HTML too) as text/plain, images as their type; always a download, nosniff."""
    client, _ = login("alice")
    page = upload(client, "page.html", b"<script>alert(1)</script>").json()
    image = upload(client, "dot.png", files.PNG).json()
    response = client.get(page["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="page.html"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"
    response = client.get(image["url"])
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment;")


def test_another_user_and_their_token_get_404() -> None:
    client, _ = login("alice")
    url = upload(client, "a.txt", b"secret").json()["url"]
    bob_client, bob = login("bob")
    assert bob_client.get(url).status_code == 404
    assert bob_client.delete(url).status_code == 404
    _, raw = tokens.token_create(user=bob, name="script")
    response = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 404
    assert Client().get(url).status_code == 401
    assert client.get("/api/attachments/not-a-uuid/").status_code == 404


def test_a_bearer_token_uploads() -> None:
    _, user = login("alice")
    _, raw = tokens.token_create(user=user, name="script")
    response = upload(Client(), "a.txt", b"hello", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 201
    assert Attachment.objects.get().owner == user


def test_staff_fetch_a_sent_file_audited() -> None:
    """Staff read a file sent in a conversation like its text: and the look is audited."""
    client, user = login("alice")
    body = upload(client, "a.txt", b"hello").json()
    conversation = Conversation.objects.create(owner=user)
    message = Message.objects.create(conversation=conversation, role="user", content="see")
    attachments.attachments_attach(
        attachments=[Attachment.objects.get(pk=body["id"])], message=message
    )
    staff, _ = login("root", staff=True)
    assert staff.get(body["url"]).status_code == 200
    event = AuditEvent.objects.get()
    assert (event.action, event.conversation_id) == ("view_file", conversation.pk)


def test_an_unsent_file_is_deleted_with_its_stored_file(settings: Any) -> None:
    client, _ = login("alice")
    url = upload(client, "a.txt", b"hello").json()["url"]
    assert client.delete(url).status_code == 204
    assert not Attachment.objects.exists()
    assert stored_files(settings) == []


def test_files_go_with_their_conversation_and_account(settings: Any) -> None:
    """Deleting a conversation, or the account, removes the stored files too."""
    client, user = login("alice")
    first = upload(client, "a.txt", b"one").json()
    upload(client, "b.txt", b"two")
    conversation = Conversation.objects.create(owner=user)
    message = Message.objects.create(conversation=conversation, role="user", content="see")
    attachments.attachments_attach(
        attachments=[Attachment.objects.get(pk=first["id"])], message=message
    )
    assert len(stored_files(settings)) == 2
    conversation.delete()
    assert Attachment.objects.count() == 1
    assert len(stored_files(settings)) == 1
    user.delete()
    assert stored_files(settings) == []
    assert os.path.isdir(settings.MEDIA_ROOT)


def test_files_never_sent_are_swept_after_a_day(settings: Any) -> None:
    """A tab closed with files in its tray leaves them: after ATTACHMENT_UNSENT_HOURS
    the sweep deletes them with their stored files; fresh ones and sent ones stay."""
    client, user = login("alice")
    old, fresh, sent = (upload(client, f"{n}.txt", n.encode()).json()["id"] for n in "abc")
    message = Message.objects.create(
        conversation=Conversation.objects.create(owner=user), role="user", content="see"
    )
    attachments.attachments_attach(attachments=[Attachment.objects.get(pk=sent)], message=message)
    day_ago = timezone.now() - timedelta(hours=25)
    Attachment.objects.filter(pk__in=[old, sent]).update(created=day_ago)
    assert len(stored_files(settings)) == 3
    assert attachments.attachments_delete_unsent_old(hours=24) == 1
    assert sorted(str(pk) for pk in Attachment.objects.values_list("pk", flat=True)) == sorted(
        [fresh, sent]
    )
    assert len(stored_files(settings)) == 2
    assert attachments.attachments_delete_unsent_old(hours=24) == 0


def sent_conversation(client: Client, user: Any) -> tuple[Conversation, dict[str, Any]]:
    """A conversation whose question carries an uploaded file, and the file's JSON."""
    body = upload(client, "notes.md", b"# Notes").json()
    conversation = Conversation.objects.create(owner=user, title="Files")
    message = Message.objects.create(conversation=conversation, role="user", content="see")
    conversation.leaf = message
    conversation.save()
    attachments.attachments_attach(
        attachments=[Attachment.objects.get(pk=body["id"])], message=message
    )
    return conversation, body


def test_the_history_exports_and_transcript_list_the_files() -> None:
    """The message JSON (history), the JSON and Markdown exports and the staff
    transcript name the file; the exports give no content, only what it is."""
    client, user = login("alice")
    conversation, body = sent_conversation(client, user)
    listed = client.get(f"/api/conversations/{conversation.pk}/").json()["messages"]
    assert listed[0]["attachments"] == [body]
    exported = client.get(f"/api/conversations/{conversation.pk}/export/")
    data = json.loads(streamed(exported))
    (message,) = data["conversations"][0]["messages"]
    assert message["attachments"] == [{**body, "sha256": hashlib.sha256(b"# Notes").hexdigest()}]
    markdown = client.get(f"/api/conversations/{conversation.pk}/export/?format=markdown")
    assert "- Attached: notes.md (text, 7 bytes)" in streamed(markdown).decode()
    staff, _ = login("root", staff=True)
    page = staff.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    assert f'href="{body["url"]}"' in page and "notes.md" in page
