"""conversation_create gives a new conversation the owner's default instructions when
it is given none and its preset has none (chat/conversations/services.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from chat.conversations import services
from chat.models import Preset, UserPreferences

DEFAULT = "Answer in French."


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("default", "preset", "given", "expected"),
    [
        # explicit instructions win over the preset's and the default
        (DEFAULT, "Talk like a pirate.", {"instructions": "Be brief."}, "Be brief."),
        (DEFAULT, None, {"instructions": "Be brief."}, "Be brief."),
        # explicitly none ("": the server's prompt) is a choice too
        (DEFAULT, None, {"instructions": ""}, ""),
        (DEFAULT, "Talk like a pirate.", {"instructions": ""}, ""),
        # a preset's instructions win over the default
        (DEFAULT, "Talk like a pirate.", {}, "Talk like a pirate."),
        # no instructions given, none by the preset: the default
        (DEFAULT, "", {}, DEFAULT),
        (DEFAULT, None, {}, DEFAULT),
        (DEFAULT, None, {"model": "", "temperature": 0.5}, DEFAULT),
        # no default: nothing
        ("", None, {}, ""),
        (None, None, {}, ""),  # never saved preferences
        (None, "Talk like a pirate.", {}, "Talk like a pirate."),
    ],
)
def test_which_instructions_a_new_conversation_starts_with(
    default: str | None, preset: str | None, given: dict[str, Any], expected: str
) -> None:
    owner = get_user_model().objects.create_user("alice", password="x-pass-123")
    if default is not None:
        UserPreferences.objects.create(user=owner, default_instructions=default)
    chosen = None
    if preset is not None:
        chosen = Preset.objects.create(owner=owner, name="p", instructions=preset)
    conversation = services.conversation_create(owner=owner, preset=chosen, **given)
    conversation.refresh_from_db()
    assert conversation.instructions == expected


@pytest.mark.django_db
def test_a_later_default_leaves_existing_conversations_be() -> None:
    owner = get_user_model().objects.create_user("alice", password="x-pass-123")
    preferences = UserPreferences.objects.create(user=owner, default_instructions=DEFAULT)
    first = services.conversation_create(owner=owner)
    preferences.default_instructions = "Be brief."
    preferences.save()
    second = services.conversation_create(owner=owner)
    first.refresh_from_db()
    assert (first.instructions, second.instructions) == (DEFAULT, "Be brief.")


@pytest.mark.django_db
def test_only_the_owners_default_applies() -> None:
    users = get_user_model().objects
    alice = users.create_user("alice", password="x-pass-123")
    bob = users.create_user("bob", password="x-pass-123")
    UserPreferences.objects.create(user=alice, default_instructions=DEFAULT)
    assert services.conversation_create(owner=bob).instructions == ""
    assert services.conversation_create(owner=alice).instructions == DEFAULT


@pytest.mark.django_db
def test_an_imported_conversation_keeps_the_clients_own_instructions() -> None:
    """/v1 requests carry their own system messages: no default is added there."""
    owner = get_user_model().objects.create_user("alice", password="x-pass-123")
    UserPreferences.objects.create(user=owner, default_instructions=DEFAULT)
    conversation = services.conversation_import(owner=owner, history=[("user", "Hi")])
    assert conversation.instructions == ""
