"""The /v1 door's turns of a burst opened together (chat/streaming/stream/turns.py):
each admitted, continued or imported as alone, in one call for all."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone

from chat.accounts.api_tokens import token_create
from chat.conversations.quotas import Refused
from chat.db import close_connections
from chat.models import Conversation, Message, UserQuota
from chat.provider import llm
from chat.streaming.stream import turns
from chat.streaming.stream.turns import Turn, TurnSettings, _Opening, _turns_open

pytestmark = pytest.mark.django_db

User = get_user_model()
HISTORY = [("user", "What is a persimmon?"), ("assistant", "A fruit.")]


def settings_() -> TurnSettings:
    return {"model": llm.model_choices()[0]["key"], "instructions": "", "temperature": None}


def test_each_turn_is_admitted_continued_or_imported(settings: Any) -> None:
    """A new history is imported; the same history in a later burst is its
    continuation; a user over the rate limit is refused before anything of theirs is
    written; a first question alone is a new conversation."""
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 1
    ada, bob = User.objects.create_user("ada"), User.objects.create_user("bob")
    adas, _raw = token_create(user=ada, name="script")
    bobs, _raw = token_create(user=bob, name="script")
    UserQuota.objects.create(user=bob, recent_sends=[timezone.now().isoformat()])
    openings = [
        _Opening(Turn(HISTORY, "And its colour?", settings_()), adas),
        _Opening(Turn(HISTORY, "And its colour?", settings_()), bobs),
        _Opening(Turn([], "Hello", settings_()), adas),
    ]
    first, refused, fresh = _turns_open(openings)
    # The next burst: the same history continues the conversation imported for it.
    (second,) = _turns_open([_Opening(Turn(HISTORY, "Where does it grow?", settings_()), adas)])
    assert not isinstance(first, Exception) and first.imported
    assert not isinstance(second, Exception) and not second.imported
    assert second.conversation_id == first.conversation_id
    assert isinstance(refused, Refused)
    assert not isinstance(fresh, Exception) and fresh.imported
    assert fresh.conversation_id != first.conversation_id
    saved = Message.objects.filter(conversation_id=first.conversation_id)
    assert sorted(saved.values_list("content", flat=True)) == ["A fruit.", "What is a persimmon?"]
    assert not Conversation.objects.filter(owner=bob).exists()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_turns_that_arrive_together_are_opened_together(monkeypatch: Any) -> None:
    calls: list[int] = []

    def recording(openings: list[_Opening]) -> list[Any]:
        calls.append(len(openings))
        return _turns_open(openings)

    monkeypatch.setattr(turns._openings, "func", recording)

    def setup() -> list[Any]:
        made = [User.objects.create_user(f"u{n}") for n in range(21)]
        return [token_create(user=user, name="t")[0] for user in made]

    tokens = await sync_to_async(setup)()
    asked = [Turn([], f"Question {n}", settings_()) for n in range(21)]
    lone = await turns._openings.submit(_Opening(asked[0], tokens[0]))
    pairs = zip(asked[1:], tokens[1:], strict=True)
    opened = await asyncio.gather(*(turns._openings.submit(_Opening(t, k)) for t, k in pairs))
    assert calls[0] == 1 and sum(calls[1:]) == 20 and len(calls) - 1 < 20
    owners = await sync_to_async(
        lambda: [Conversation.objects.get(pk=o.conversation_id).owner_id for o in [lone, *opened]]
    )()
    assert owners == [t.user_id for t in tokens]
    await sync_to_async(connections.close_all)()
    await asyncio.to_thread(close_connections)
