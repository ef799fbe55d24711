"""PreferencesForm: the settings page's form and the JSON body of a PATCH of
/api/preferences/."""

from __future__ import annotations

from typing import Any

import pytest

from chat.conversations.limits import MAX_INSTRUCTIONS_CHARS
from chat.transports.http.forms import PreferencesForm


@pytest.mark.parametrize(
    ("data", "partial", "cleaned"),
    [
        ({"theme": "dark", "default_instructions": "Be brief.", "speech_voice": "ja"}, False, None),
        ({"theme": "system", "default_instructions": "", "speech_voice": ""}, False, None),
        (
            {"theme": "light"},
            False,
            {"theme": "light", "default_instructions": "", "speech_voice": ""},
        ),
        ({"speech_voice": " 3 "}, True, None),
        ({"speech_voice": "en-us+f3"}, True, None),
        ({"theme": "dark"}, True, {"theme": "dark"}),
        ({"default_instructions": "  Answer in French.  "}, True, None),
        ({}, True, {}),
        ({"default_instructions": "x" * MAX_INSTRUCTIONS_CHARS}, True, None),
    ],
)
def test_valid(data: dict[str, Any], partial: bool, cleaned: dict[str, Any] | None) -> None:
    form = PreferencesForm(data, partial=partial)
    assert form.is_valid(), form.errors
    expected = cleaned if cleaned is not None else {k: v.strip() for k, v in data.items()}
    assert form.cleaned_data == expected


@pytest.mark.parametrize(
    ("data", "partial", "field"),
    [
        ({"theme": "blue"}, True, "theme"),
        ({"theme": ""}, True, "theme"),
        ({"theme": None}, True, "theme"),
        ({"theme": 1}, True, "theme"),
        ({"default_instructions": "Be brief."}, False, "theme"),  # the page sends both
        (
            {"default_instructions": "x" * (MAX_INSTRUCTIONS_CHARS + 1)},
            True,
            "default_instructions",
        ),
        ({"default_instructions": ["a list"]}, True, "default_instructions"),
        ({"default_instructions": 42}, True, "default_instructions"),
        ({"speech_voice": "en us"}, True, "speech_voice"),
        ({"speech_voice": "-v"}, True, "speech_voice"),  # never an espeak-ng option
        ({"speech_voice": "x" * 41}, True, "speech_voice"),
        ({"speech_voice": 7}, True, "speech_voice"),
    ],
)
def test_invalid_names_the_field(data: dict[str, Any], partial: bool, field: str) -> None:
    form = PreferencesForm(data, partial=partial)
    assert not form.is_valid()
    assert list(form.errors) == [field]
    assert form.error_message("preferences") == f"The preferences is not valid: {field}."


def test_the_page_form_starts_from_the_saved_values() -> None:
    form = PreferencesForm(initial={"theme": "dark", "default_instructions": "Be brief."})
    assert not form.is_bound
    assert 'value="dark" required id="id_theme_2" checked' in str(form["theme"])
    assert "Be brief." in str(form["default_instructions"])
