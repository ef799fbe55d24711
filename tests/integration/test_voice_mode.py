"""Voice mode over a real socket: the server speaks each clause or sentence of an answer
as it is written (chat/streaming/stream/voice.py), with espeak-ng for real and a
VOICEVOX-compatible engine on loopback that records what it is asked."""

from __future__ import annotations

import asyncio
import io
import json
import wave
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client

from chat.accounts.preferences import preferences_update
from chat.speech.text import speakable
from chat.streaming.delivery.chunking import SpeechChunker
from tests.support.speech_stubs import SpeechStub, needs_espeak

from .conftest import chunk_text, make_conversation, make_user, open_socket, receive

pytestmark = pytest.mark.django_db(transaction=True)
QUESTION = "Tell me about pears, apples and plums, in a few sentences."


@pytest.fixture
def voice_settings(settings: Any, tmp_path: Any) -> Any:
    settings.SPEECH_CACHE_DIR = str(tmp_path / "speech")
    settings.DEMO_TOKEN_DELAY_MS = 15  # the answer takes a while: audio comes meanwhile
    settings.SPEECH_MAX_CHARS_PER_DAY = 100_000
    return settings


@pytest.fixture
def voicevox(voice_settings: Any) -> Any:
    with SpeechStub() as stub:
        voice_settings.SPEECH_ENGINE = "voicevox"
        voice_settings.VOICEVOX_URL = stub.url
        yield stub


async def voiced_socket(user: Any, conversation: Any, mode: str = "clause") -> Any:
    ws = await open_socket(user, conversation, "token")
    assert (await receive(ws))["type"] == "history"
    await ws.send_to(text_data=json.dumps({"type": "set_voice", "on": True, "mode": mode}))
    return ws


async def ask(ws: Any, content: str = QUESTION) -> None:
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": content}))


async def frames_until(ws: Any, done: Any, timeout: float = 60) -> list[dict[str, Any]]:
    """Frames until `done(frames)` holds."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not done(frames):
            frames.append(await receive(ws, timeout=timeout))
    return frames


def pieces(frames: list[dict[str, Any]], answer_id: str, mode: str) -> list[str]:
    """What the voice should say of the answer: its chunks through the voice's chunker."""
    chunker = SpeechChunker(mode)
    said: list[str] = []
    for frame in frames:
        if frame["type"] == "chunk" and frame["message_id"] == answer_id:
            said += chunker.feed(frame["text"])
    return [text for text in [*said, *chunker.flush()] if speakable(text)]


def seen_all(*kinds: str) -> Any:
    """A `done` for frames_until: a frame of each kind has come."""
    return lambda frames: set(kinds) <= {f["type"] for f in frames}


def answer_of(frames: list[dict[str, Any]]) -> str:
    return next(f["message_id"] for f in frames if f["type"] == "start")


def audio_of(frames: list[dict[str, Any]], answer_id: str) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == "audio" and f["message_id"] == answer_id]


def all_spoken(mode: str = "clause") -> Any:
    """A `done` for frames_until: the answer ended and every piece of it was spoken."""

    def done(frames: list[dict[str, Any]]) -> bool:
        if not any(f["type"] == "end" for f in frames):
            return False
        answer_id = answer_of(frames)
        return len(audio_of(frames, answer_id)) >= len(pieces(frames, answer_id, mode))

    return done


@database_sync_to_async
def fetch(user: Any, url: str) -> tuple[int, bytes]:
    client = Client()
    if user is not None:
        client.force_login(user)
    response = client.get(url)
    return response.status_code, response.content


@needs_espeak
@pytest.mark.parametrize("mode", ["clause", "sentence"])
async def test_each_piece_is_spoken_in_order_while_the_answer_streams(
    voice_settings: Any, mode: str
) -> None:
    """espeak-ng for real: one `audio` frame per clause (or sentence), seq 0, 1, 2 …, the
    first before the answer's `end`; each a WAV the user can fetch, and nobody else."""
    voice_settings.SPEECH_ENGINE = "espeak"
    user, other = await make_user(), await make_user()
    ws = await voiced_socket(user, await make_conversation(user), mode)
    await ask(ws)
    frames = await frames_until(ws, all_spoken(mode))
    answer_id = answer_of(frames)
    audio = audio_of(frames, answer_id)
    said = pieces(frames, answer_id, mode)
    assert len(said) >= 3
    assert [a["seq"] for a in audio] == list(range(len(said)))
    assert [a["text"] for a in audio] == said
    end = next(i for i, f in enumerate(frames) if f["type"] == "end")
    assert frames.index(audio[0]) < end  # heard while the model still writes
    for clip in audio:
        status, body = await fetch(user, clip["url"])
        assert status == 200
        with wave.open(io.BytesIO(body)) as wav:
            assert wav.getframerate() == 22050 and wav.getnframes() > 0
    assert (await fetch(other, audio[0]["url"]))[0] == 404  # another user's link
    assert (await fetch(None, audio[0]["url"]))[0] == 401
    await ws.disconnect()


async def test_a_second_tab_reuses_the_audio(voicevox: Any) -> None:
    """Two tabs of one user speak the same answer: the engine is asked once per piece."""
    user = await make_user()
    conversation = await make_conversation(user)
    first, second = await voiced_socket(user, conversation), await voiced_socket(user, conversation)
    await ask(first)
    seen = await asyncio.gather(
        frames_until(first, all_spoken()), frames_until(second, all_spoken())
    )
    answer_id = answer_of(seen[0])
    said = pieces(seen[0], answer_id, "clause")
    urls = [[a["url"] for a in audio_of(frames, answer_id)] for frames in seen]
    assert len(urls[0]) == len(urls[1]) == len(said)
    assert voicevox.paths().count("/synthesis") == len(said)
    await first.disconnect()
    await second.disconnect()


@pytest.mark.parametrize("barge_in", ["stop", "hush", "user_message"])
async def test_stop_typing_or_a_new_message_silences_the_voice(
    voicevox: Any, barge_in: str
) -> None:
    """The engine is held while the answer streams; after the barge-in nothing more of
    that answer is spoken, not even the piece that was being synthesised. The voice
    speaks in order, so the next answer's first clip shows that nothing was left."""
    voicevox.gate.clear()
    user = await make_user()
    ws = await voiced_socket(user, await make_conversation(user))
    await ask(ws)
    frames = await frames_until(ws, lambda fs: any(f["type"] == "chunk" for f in fs))
    answer_id = answer_of(frames)
    frame: dict[str, Any] = {"type": barge_in}
    if barge_in == "user_message":  # refused `busy` while the answer streams (the tab queues)
        frame["content"] = "And cherries?"
    await ws.send_to(text_data=json.dumps(frame))
    frames += await frames_until(ws, lambda fs: any(f["type"] == "end" for f in fs))
    voicevox.gate.set()
    await ask(ws, "And plums?")
    frames += await frames_until(
        ws, lambda fs: any(f["type"] == "audio" and f["message_id"] != answer_id for f in fs)
    )
    assert audio_of(frames, answer_id) == []
    await ws.disconnect()


async def test_an_engine_that_fails_tells_once_and_the_text_still_streams(voicevox: Any) -> None:
    voicevox.status = 500
    user = await make_user()
    ws = await voiced_socket(user, await make_conversation(user))
    await ask(ws)
    frames = await frames_until(ws, seen_all("end", "voice_notice"))
    answer_id = answer_of(frames)
    notices = [f for f in frames if f["type"] == "voice_notice"]
    assert [(n["message_id"], n["code"]) for n in notices] == [(answer_id, "speech_failed")]
    assert notices[0]["message"].startswith("VOICEVOX refused audio_query (500)")
    end = next(f for f in frames if f["type"] == "end")
    assert end["status"] == "complete" and chunk_text(frames, answer_id)
    assert voicevox.paths().count("/audio_query") == 1  # the rest of the answer: not asked
    await ws.disconnect()


async def test_a_spent_allowance_is_a_notice_not_an_error(
    voice_settings: Any, voicevox: Any
) -> None:
    voice_settings.SPEECH_MAX_CHARS_PER_DAY = 5
    user = await make_user()
    ws = await voiced_socket(user, await make_conversation(user))
    await ask(ws)
    frames = await frames_until(ws, seen_all("end", "voice_notice"))
    notice = next(f for f in frames if f["type"] == "voice_notice")
    assert notice["code"] == "quota_exceeded"
    assert voicevox.paths() == []
    assert next(f for f in frames if f["type"] == "end")["status"] == "complete"
    await ws.disconnect()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"type": "set_voice"}, '"on" must be true or false.'),
        ({"type": "set_voice", "on": "yes"}, '"on" must be true or false.'),
        ({"type": "set_voice", "on": True, "mode": "token"}, "Voice mode must be one of"),
        ({"type": "set_voice", "on": True, "voice": "../etc"}, '"voice" must be a voice name'),
        ({"type": "set_voice", "on": True, "voice": "x" * 41}, '"voice" must be a voice name'),
    ],
)
async def test_a_bad_set_voice_gets_an_error_frame(
    voice_settings: Any, frame: dict[str, Any], message: str
) -> None:
    user = await make_user()
    ws = await open_socket(user, await make_conversation(user))
    assert (await receive(ws))["type"] == "history"
    await ws.send_to(text_data=json.dumps(frame))
    error = await receive(ws)
    assert (error["type"], error["code"]) == ("error", "bad_frame")
    assert error["message"].startswith(message)
    await ws.disconnect()


async def test_the_users_chosen_voice_speaks_and_a_frames_own_wins(voicevox: Any) -> None:
    """The settings page's voice (a VOICEVOX speaker id here) speaks the user's answers
    when the page names none; a `set_voice` that names one wins; another user keeps
    the operator's speaker."""
    user, other = await make_user(), await make_user()
    await database_sync_to_async(preferences_update)(user=user, changes={"speech_voice": "7"})

    async def speakers(owner: Any, voice: str | None = None) -> set[str]:
        conversation = await make_conversation(owner)
        ws = await open_socket(owner, conversation, "token")
        assert (await receive(ws))["type"] == "history"
        frame: dict[str, Any] = {"type": "set_voice", "on": True, "mode": "clause"}
        if voice is not None:
            frame["voice"] = voice
        await ws.send_to(text_data=json.dumps(frame))
        before = len(voicevox.asked)
        await ask(ws, f"{QUESTION} ({owner.pk}, {voice})")
        await frames_until(ws, all_spoken())
        await ws.disconnect()
        asked = voicevox.asked[before:]
        return {a.query.get("speaker", "") for a in asked if a.path == "/synthesis"}

    assert await speakers(user) == {"7"}
    assert await speakers(user, "2") == {"2"}
    assert await speakers(other) == {str(settings.VOICEVOX_SPEAKER)}
