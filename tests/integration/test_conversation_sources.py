"""Each /v1 request is saved as a conversation of the token's user: the sidebar's list
(GET /api/conversations/) leaves them out unless asked (`?source=openai` or `all`)."""

from __future__ import annotations

import pytest
from django.test import Client

from chat.accounts import api_tokens as tokens
from chat.models import Conversation

pytestmark = pytest.mark.django_db

Source = Conversation.Source


@pytest.fixture
def saved(alice) -> dict[str, str]:
    """One conversation of each source, by source."""
    token, _ = tokens.token_create(user=alice, name="t")
    return {
        source: str(
            Conversation.objects.create(
                owner=alice,
                title=source,
                source=source,
                api_token=None if source == Source.WEB else token,
            ).pk
        )
        for source in Source.values
    }


def listed(client: Client, **query: str) -> list[str]:
    response = client.get("/api/conversations/", query)
    assert response.status_code == 200
    return [c["title"] for c in response.json()["conversations"]]


def test_the_list_leaves_out_v1_conversations_by_default(client, alice, saved) -> None:
    """Today: every /v1 call is listed, so the sidebar fills with them."""
    client.force_login(alice)
    assert sorted(listed(client)) == ["api", "web"]
    assert listed(client, source="openai") == ["openai"]
    assert listed(client, source="web") == ["web"]
    assert sorted(listed(client, source="all")) == ["api", "openai", "web"]


def test_an_unknown_source_is_a_400(client, alice) -> None:
    client.force_login(alice)
    response = client.get("/api/conversations/", {"source": "email"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_the_chat_page_links_the_api_conversations_and_back(client, alice) -> None:
    client.force_login(alice)
    page = client.get("/")
    assert page.context["config"]["list_source"] == ""
    assert b'href="/?source=openai">API conversations</a>' in page.content
    page = client.get("/", {"source": "openai"})
    assert page.context["config"]["list_source"] == "openai"
    assert b'href="/">Your chats</a>' in page.content
