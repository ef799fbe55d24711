"""The daily allowance of spoken characters per user."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from chat.speech.quota import speech_charge, within_allowance


@pytest.mark.parametrize(
    ("used", "asked", "limit", "allowed"),
    [
        (0, 10, 100, True),
        (90, 10, 100, True),
        (91, 10, 100, False),
        (0, 101, 100, False),
        (10**9, 10**9, 0, True),  # 0: no limit
    ],
)
def test_within_allowance(used: int, asked: int, limit: int, allowed: bool) -> None:
    assert within_allowance(used=used, asked=asked, limit=limit) is allowed


@pytest.mark.django_db
@override_settings(SPEECH_MAX_CHARS_PER_DAY=100)
def test_a_user_is_charged_until_the_day_is_spent_and_a_new_day_starts_afresh() -> None:
    alice = get_user_model().objects.create_user("alice-speech", password="x")
    bob = get_user_model().objects.create_user("bob-speech", password="x")
    monday, tuesday = datetime.date(2026, 12, 7), datetime.date(2026, 12, 8)
    assert speech_charge(user_id=alice.pk, chars=60, today=monday)
    assert speech_charge(user_id=alice.pk, chars=40, today=monday)
    assert not speech_charge(user_id=alice.pk, chars=1, today=monday)
    assert speech_charge(user_id=bob.pk, chars=100, today=monday)  # his own count
    assert speech_charge(user_id=alice.pk, chars=100, today=tuesday)
