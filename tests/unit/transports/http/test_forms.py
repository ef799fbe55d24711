"""The JSON API's forms on their own: what a PATCH of a conversation accepts. No database."""

from __future__ import annotations

from typing import Any

import pytest

from chat.transports.http.forms import ConversationCreateForm, ConversationUpdateForm


@pytest.mark.parametrize("field", ["pinned", "archived"])
@pytest.mark.parametrize("value", [True, False])
def test_pinned_and_archived_take_json_booleans(field: str, value: bool) -> None:
    form = ConversationUpdateForm({field: value}, partial=True)
    assert form.is_valid(), form.errors
    assert form.cleaned_data == {field: value}


@pytest.mark.parametrize("field", ["pinned", "archived"])
@pytest.mark.parametrize("value", [None, "true", "false", "", 1, 0, "yes", [], {}])
def test_anything_but_a_json_boolean_is_refused_by_name(field: str, value: Any) -> None:
    form = ConversationUpdateForm({field: value}, partial=True)
    assert not form.is_valid()
    assert list(form.errors) == [field]
    assert form.errors.get_json_data()[field][0]["code"] == "invalid"


def test_a_patch_of_other_fields_leaves_them_out() -> None:
    form = ConversationUpdateForm({"title": "Trip"}, partial=True)
    assert form.is_valid(), form.errors
    assert form.cleaned_data == {"title": "Trip"}


def test_a_new_conversation_cannot_be_made_pinned_or_archived() -> None:
    """A create takes neither (nothing to pin yet): they are not its fields."""
    assert {"pinned", "archived"}.isdisjoint(ConversationCreateForm.base_fields)
