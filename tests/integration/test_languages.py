"""Japanese and English (issue #24): the pages follow the browser's Accept-Language or
the language switch's cookie; a WebSocket says its refusals and the errors saved on
answers in its handshake's language, with the same codes; model output is untouched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.admin import site
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from chat.errors import INTERRUPTED_ERROR
from chat.models import Conversation, Message

from .conftest import APP, make_conversation, make_user, receive, receive_until

PASSWORD = "x-pass-123-long"
PAGES = ["/", "/settings/", "/settings/tokens/", "/settings/webhooks/", "/settings/account/"]
# One string of each page, in Japanese and in English.
JAPANESE = {
    "/": "新しいチャット",
    "/settings/": "新しいチャットの既定の指示",
    "/settings/tokens/": "トークンの作成",
    "/settings/webhooks/": "Webhook を追加",
    "/settings/account/": "アカウントの削除",
    "/accounts/login/": "アカウントをお持ちでないですか？",
}
ENGLISH = {
    "/": "New chat",
    "/settings/": "Default instructions for new chats",
    "/settings/tokens/": "Create a token",
    "/settings/webhooks/": "Add a webhook",
    "/settings/account/": "Delete the account",
    "/accounts/login/": "Log in",
}


@pytest.fixture
def browser(db: Any) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("alice", password=PASSWORD))
    return client


def html_of(client: Client, path: str, **headers: str) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


@pytest.mark.parametrize("path", PAGES)
def test_a_signed_in_page_follows_accept_language(browser: Client, path: str) -> None:
    japanese = html_of(browser, path, accept_language="ja,en;q=0.5")
    assert '<html lang="ja"' in japanese and JAPANESE[path] in japanese
    assert ENGLISH[path] not in japanese
    english = html_of(browser, path, accept_language="en-GB,en;q=0.9")
    assert '<html lang="en"' in english and ENGLISH[path] in english
    assert JAPANESE[path] not in english


@pytest.mark.django_db
def test_the_login_page_follows_accept_language_and_has_the_switch() -> None:
    japanese = html_of(Client(), "/accounts/login/", accept_language="ja")
    assert '<html lang="ja"' in japanese and JAPANESE["/accounts/login/"] in japanese
    assert 'id="language-switch"' in japanese and 'action="/i18n/setlang/"' in japanese
    assert "ユーザー名" in japanese  # Django's own form labels, from Django's catalogue
    english = html_of(Client(), "/accounts/login/")  # no Accept-Language: English
    assert '<html lang="en"' in english and "No account yet?" in english


def test_the_switch_is_remembered_by_its_cookie(browser: Client) -> None:
    """The switch (a plain form POST, no script) beats Accept-Language from then on."""
    switched = browser.post("/i18n/setlang/", {"language": "ja", "next": "/settings/"})
    assert switched.status_code == 302 and switched["Location"] == "/settings/"
    assert browser.cookies["django_language"].value == "ja"
    for path in PAGES:
        assert JAPANESE[path] in html_of(browser, path, accept_language="en")
    assert 'value="ja" lang="ja" selected' in html_of(browser, "/")
    browser.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert ENGLISH["/"] in html_of(browser, "/", accept_language="ja")


def test_form_errors_and_messages_are_translated(browser: Client) -> None:
    page = browser.post(
        "/settings/tokens/",
        {"name": "", "scope": "full", "expires": "90", "password": PASSWORD},
        headers={"accept_language": "ja"},
    )
    assert "このフィールドは必須です。" in page.content.decode()  # Django's, in Japanese
    saved = browser.post(
        "/settings/",
        {"default_instructions": "", "theme": "dark"},
        headers={"accept_language": "ja"},
        follow=True,
    )
    assert "設定を保存しました。" in saved.content.decode()


def test_the_admin_review_pages_render_in_japanese(browser: Client) -> None:
    staff = get_user_model().objects.create_superuser("boss", password=PASSWORD)
    conversation = Conversation.objects.create(owner=staff, title="Trip")
    question = Message.objects.create(conversation=conversation, role="user", content="Hi")
    Message.objects.create(
        conversation=conversation,
        parent=question,
        role="assistant",
        content="Hello there.",
        status="error",
        error="The model failed to answer.",
    )
    admin = Client()
    admin.force_login(staff)
    pages = {
        "/admin/chat/conversation/": "利用状況",
        f"/admin/chat/conversation/{conversation.pk}/change/": "会話記録（2 件のメッセージ）",
        "/admin/chat/conversation/stats/": "モデルごとのトークン",
        "/admin/chat/apitoken/": "API トークンのページ",
    }
    for path, text in pages.items():
        html = html_of(admin, path, accept_language="ja")
        assert '<html lang="ja"' in html and text in html, path
    transcript = html_of(admin, f"/admin/chat/conversation/{conversation.pk}/change/")
    assert "Transcript (2 messages)" in transcript  # English without Accept-Language
    for model in site._registry:  # every list of the admin, in Japanese, without an error
        path = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert '<html lang="ja"' in html_of(admin, path, accept_language="ja"), path


# --- The WebSocket ------------------------------------------------------------------


async def open_socket(user: Any, conversation: Conversation, **headers: str) -> Any:
    """A socket whose handshake carries `headers`, its history frame read and returned."""
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    communicator = WebsocketCommunicator(APP, f"/ws/chat/{conversation.pk}/", headers=raw)
    communicator.scope["user"] = user
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    history = await receive(communicator)
    assert history["type"] == "history"
    return communicator, history


async def refusal_of(communicator: WebsocketCommunicator, frame: Any) -> dict[str, Any]:
    await communicator.send_to(text_data=json.dumps(frame))
    error = await receive(communicator)
    assert error["type"] == "error"
    return error


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("redis_layer")
@pytest.mark.parametrize(
    "headers",
    [{"accept_language": "ja,en;q=0.8"}, {"cookie": "django_language=ja"}],
    ids=["accept-language", "cookie"],
)
async def test_a_japanese_socket_gets_japanese_refusals_with_the_same_codes(
    settings: Any, headers: dict[str, str]
) -> None:
    settings.CHAT_MAX_MESSAGE_CHARS = 100
    user = await make_user()
    conversation = await make_conversation(user)
    ja, _history = await open_socket(user, conversation, **headers)
    en, _history = await open_socket(user, conversation)
    for frame, code, japanese, english in [
        (
            {"type": "user_message", "content": "   "},
            "bad_frame",
            "メッセージが空です。",
            "The message is empty.",
        ),
        (
            {"type": "user_message", "content": "x" * 101},
            "too_long",
            "メッセージが長すぎます（101 文字、上限 100 文字）。",
            "The message is too long (101 of 100 characters).",
        ),
        (
            {"type": "nonsense"},
            "bad_frame",
            "不明なフレームの種類です: 'nonsense'。",
            "Unknown frame type 'nonsense'.",
        ),
    ]:
        assert await refusal_of(ja, frame) == {"type": "error", "code": code, "message": japanese}
        assert await refusal_of(en, frame) == {"type": "error", "code": code, "message": english}
    await ja.disconnect()
    await en.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("redis_layer")
async def test_saved_errors_are_translated_and_model_output_is_not() -> None:
    """An answer's saved English error comes in Japanese to a Japanese socket; what the
    model writes, even a sentence of the catalogue, comes as it was written."""
    user = await make_user()
    conversation = await make_conversation(user)

    @database_sync_to_async
    def interrupted() -> None:
        question = Message.objects.create(conversation=conversation, role="user", content="Hi")
        Message.objects.create(
            conversation=conversation,
            parent=question,
            role="assistant",
            content="The message is empty.",
            status="error",
            error=INTERRUPTED_ERROR,
            error_code="interrupted",
        )

    await interrupted()
    ja, history = await open_socket(user, conversation, accept_language="ja")
    answer = history["messages"][-1]
    assert answer["error"] == "サーバーが停止したため、回答が中断されました。"
    assert answer["error_code"] == "interrupted"
    assert answer["content"] == "The message is empty."  # the model's, untouched
    echo = "/echo The message is empty. Something went wrong on the server. Try again."
    await ja.send_to(text_data=json.dumps({"type": "user_message", "content": echo}))
    frames = await receive_until(ja, "end")
    text = "".join(f["text"] for f in frames if f["type"] == "chunk")
    assert text == echo.removeprefix("/echo ")
    await ja.disconnect()
