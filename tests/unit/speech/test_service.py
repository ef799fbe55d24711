"""Speech for a user from async code: the allowance charged only when the engine is
asked, and the event loop free while it works."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from chat.db import db_call
from chat.errors import ErrorCode, Refusal
from chat.speech.base import SpeechError
from chat.speech.cache import CachedEngine, SpeechCache
from chat.speech.service import seconds_to_midnight, speech_for_user
from chat.speech.voicevox import VoicevoxEngine
from tests.support.speech_stubs import SpeechStub
from tests.support.waiting import wait_for

UTC = datetime.UTC
TOKYO = datetime.timezone(datetime.timedelta(hours=9))


@pytest.mark.parametrize(
    ("now", "seconds"),
    [
        (datetime.datetime(2026, 12, 7, 23, 59, 30, tzinfo=UTC), 30),
        (datetime.datetime(2026, 12, 7, 0, 0, tzinfo=UTC), 86400),
        (datetime.datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO), 86400),  # 00:00 UTC
    ],
)
def test_seconds_to_midnight(now: datetime.datetime, seconds: float) -> None:
    assert seconds_to_midnight(now) == seconds


async def _user(name: str) -> int:
    make = db_call(get_user_model().objects.create_user)
    return int((await make(name, password="x")).pk)


@pytest.mark.django_db(transaction=True)
@override_settings(SPEECH_MAX_CHARS_PER_DAY=20)
async def test_the_allowance_is_charged_when_the_engine_is_asked(tmp_path: Path) -> None:
    user_id = await _user("speech-allowance")
    with SpeechStub() as stub:
        engine = CachedEngine(VoicevoxEngine(stub.url, 3), SpeechCache(tmp_path))
        first = await speech_for_user(user_id=user_id, text="**Hello there.**", engine=engine)
        assert first.startswith(b"RIFF")
        assert stub.asked[0].query["text"] == "Hello there."  # Markdown taken out
        # Cached: said again for nothing (12 of 20 characters spent once).
        again = await speech_for_user(user_id=user_id, text="Hello there.", engine=engine)
        assert again == first and len(stub.asked) == 2
        with pytest.raises(Refusal) as refused:
            await speech_for_user(user_id=user_id, text="Another one.", engine=engine)
        assert refused.value.code == ErrorCode.QUOTA_EXCEEDED
        assert refused.value.retry_after is not None and refused.value.retry_after > 0
        assert len(stub.asked) == 2  # the engine was not asked
        with pytest.raises(SpeechError, match="Nothing to say"):
            await speech_for_user(user_id=user_id, text="**", engine=engine)


@pytest.mark.django_db(transaction=True)
async def test_the_event_loop_goes_on_while_the_engine_works(tmp_path: Path) -> None:
    user_id = await _user("speech-loop")
    with SpeechStub() as stub:
        stub.gate.clear()  # the engine holds its answers
        engine = CachedEngine(VoicevoxEngine(stub.url, 3), SpeechCache(tmp_path))
        task = asyncio.create_task(speech_for_user(user_id=user_id, text="Wait.", engine=engine))
        # This coroutine runs while the synthesis is held: the loop is not blocked.
        await wait_for(lambda: len(stub.asked) == 1, timeout=30, what="the audio query")
        assert not task.done()
        stub.gate.set()
        assert (await task).startswith(b"RIFF")
