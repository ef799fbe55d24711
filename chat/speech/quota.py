"""The operator's protection: characters spoken per user per UTC day
(SPEECH_MAX_CHARS_PER_DAY; 0 turns it off). A server module (it uses the database);
the terminal client never imports it."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat.models import SpeechUsage


def within_allowance(*, used: int, asked: int, limit: int) -> bool:
    """Whether `asked` more characters fit after `used` today (limit 0: no limit)."""
    return limit <= 0 or used + asked <= limit


def speech_charge(*, user_id: int, chars: int, today: datetime.date | None = None) -> bool:
    """Count `chars` against the user's day if they fit (True), else count nothing
    (False). The row is locked, so every process counts the same characters."""
    limit = settings.SPEECH_MAX_CHARS_PER_DAY
    day = today or timezone.now().date()
    with transaction.atomic():
        usage, _ = SpeechUsage.objects.select_for_update().get_or_create(
            user_id=user_id, defaults={"day": day}
        )
        used = usage.chars if usage.day == day else 0
        if not within_allowance(used=used, asked=chars, limit=limit):
            return False
        usage.day, usage.chars = day, used + chars
        usage.save(update_fields=["day", "chars"])
    return True
