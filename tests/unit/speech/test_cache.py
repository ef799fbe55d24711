"""The speech cache: one key per (engine, voice, text), and the engine asked once for
a chunk however often it is said (a real engine on loopback counts the requests)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from chat.speech.cache import CachedEngine, SpeechCache, cache_key
from chat.speech.voicevox import VoicevoxEngine
from tests.support.speech_stubs import SpeechStub


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("espeak-ng", "en", "Hello."), ("espeak-ng", "en", "Hello!")),
        (("espeak-ng", "en", "Hello."), ("espeak-ng", "ja", "Hello.")),
        (("espeak-ng", "en", "Hello."), ("voicevox", "en", "Hello.")),
        (("a", "b c", "d"), ("a b", "c", "d")),  # no separator makes two collide
        (("a", "", "bc"), ("a", "b", "c")),
    ],
)
def test_cache_keys_differ(one: tuple[str, str, str], other: tuple[str, str, str]) -> None:
    assert cache_key(*one) != cache_key(*other)


def test_cache_key_is_a_stable_sha256() -> None:
    key = cache_key("espeak-ng", "en", "Hello.")
    assert key == cache_key("espeak-ng", "en", "Hello.")
    assert len(key) == 64 and int(key, 16) >= 0


def test_the_engine_is_called_once_for_two_identical_requests(tmp_path: Path) -> None:
    with SpeechStub() as stub:
        engine = CachedEngine(VoicevoxEngine(stub.url, 3), SpeechCache(tmp_path))
        first = engine.synthesize("こんにちは。")
        second = engine.synthesize("こんにちは。")
        assert stub.paths() == ["/audio_query", "/synthesis"]
        assert first == second and first.startswith(b"RIFF")
        # Another process sharing the directory finds it too.
        again = CachedEngine(VoicevoxEngine(stub.url, 3), SpeechCache(tmp_path))
        assert again.synthesize("こんにちは。") == first
        assert len(stub.paths()) == 2
        # Another voice or text is another entry.
        engine.synthesize("こんにちは。", "8")
        engine.synthesize("さようなら。")
        assert len(stub.paths()) == 6


def test_requests_at_once_wait_for_one_synthesis(tmp_path: Path) -> None:
    with SpeechStub() as stub:
        stub.delay = 0.2
        engine = CachedEngine(VoicevoxEngine(stub.url, 3), SpeechCache(tmp_path))
        results: list[bytes] = []
        threads = [
            threading.Thread(target=lambda: results.append(engine.synthesize("Same chunk.")))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert stub.paths() == ["/audio_query", "/synthesis"]
        assert len(set(results)) == 1 and len(results) == 4


def test_a_failed_synthesis_is_not_cached(tmp_path: Path) -> None:
    from chat.speech.base import SpeechError

    with SpeechStub() as stub:
        engine = CachedEngine(VoicevoxEngine(stub.url, 3), SpeechCache(tmp_path))
        stub.status = 500
        with pytest.raises(SpeechError):
            engine.synthesize("Try again.")
        stub.status = 200
        assert engine.synthesize("Try again.").startswith(b"RIFF")
        assert list(tmp_path.rglob("*.part")) == []
