"""A chunk of an answer spoken for one of the server's users, from async code: the
Markdown taken out, the daily allowance charged unless the audio is cached, and the
engine run in a thread so the event loop goes on. A server module (the database);
the terminal client never imports it."""

from __future__ import annotations

import asyncio
import datetime

from django.utils.translation import gettext_lazy as _

from chat.db import db_call
from chat.errors import ErrorCode, Refusal
from chat.speech.base import SpeechError
from chat.speech.cache import CachedEngine
from chat.speech.quota import speech_charge
from chat.speech.text import speakable

SPENT = _("You have used today's speech allowance; the text still comes.")


def seconds_to_midnight(now: datetime.datetime) -> float:
    """Seconds until the next UTC day, when the allowance starts afresh."""
    now = now.astimezone(datetime.UTC)
    tomorrow = datetime.datetime.combine(now.date(), datetime.time(), datetime.UTC)
    return (tomorrow + datetime.timedelta(days=1) - now).total_seconds()


async def speech_for_user(
    *, user_id: int, text: str, engine: CachedEngine, voice: str | None = None
) -> bytes:
    """The chunk as WAV bytes. Refusal `quota_exceeded` (with `retry_after`) when the
    user's characters for today are spent; SpeechError when there is nothing to say or
    the engine fails (the characters stay charged: the engine was asked)."""
    said = await _charged(user_id=user_id, text=text, engine=engine, voice=voice)
    return await asyncio.to_thread(engine.synthesize, said, voice)


async def clip_for_user(
    *, user_id: int, text: str, engine: CachedEngine, voice: str | None = None
) -> str:
    """As `speech_for_user`, but the audio is left in the cache: its key (links.py
    makes the user's address of it). A chunk said before costs nothing and is ready."""
    said = await _charged(user_id=user_id, text=text, engine=engine, voice=voice)
    await asyncio.to_thread(engine.synthesize, said, voice)
    return engine.key(said, voice)


async def _charged(*, user_id: int, text: str, engine: CachedEngine, voice: str | None) -> str:
    """What is said of `text`, charged to the user unless it is cached already."""
    said = speakable(text)
    if not said:
        raise SpeechError("Nothing to say: the text is empty.")
    cached = await asyncio.to_thread(engine.cached, said, voice)
    if not cached and not await db_call(speech_charge)(user_id=user_id, chars=len(said)):
        now = datetime.datetime.now(datetime.UTC)
        raise Refusal(ErrorCode.QUOTA_EXCEEDED, SPENT, retry_after=seconds_to_midnight(now))
    return said
