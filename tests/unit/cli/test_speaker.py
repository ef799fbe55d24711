"""The client's speaker: chunks queued without waiting for their speech, spoken in
order by one worker, a failing engine told once while the text goes on."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from chat.cli.speaker import Speaker, WavFiles
from chat.speech.espeak import EspeakEngine
from chat.speech.voicevox import VoicevoxEngine
from tests.e2e.servers import REPO_ROOT
from tests.support.speech_stubs import SpeechStub
from tests.support.waiting import wait_for_sync


def test_chunks_are_queued_at_once_and_spoken_in_order(tmp_path: Path) -> None:
    """`say()` returns while the engine is still busy with an earlier chunk (the stub
    holds every answer until its gate opens), and the files follow the chunks' order."""
    notices: list[str] = []
    with SpeechStub() as stub:
        stub.gate.clear()
        speaker = Speaker(VoicevoxEngine(stub.url, 3), WavFiles(tmp_path), notices.append)
        for chunk in ("First. ", "**", "Second, ", "third.\n"):
            speaker.say(chunk)
        assert list(tmp_path.iterdir()) == []  # nothing spoken yet: say() did not wait
        stub.gate.set()
        speaker.close()
        texts = [asked.query["text"] for asked in stub.asked if asked.path == "/audio_query"]
    assert texts == ["First.", "Second,", "third."]  # "**" has nothing to say
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0001.wav", "0002.wav", "0003.wav"]
    assert notices == [] and not speaker.failed


def test_the_next_chunk_is_synthesised_while_this_one_plays(tmp_path: Path) -> None:
    """While the sink still plays the first chunk, the engine is already asked for the
    second: speech does not wait for playback."""
    playing = threading.Event()
    release = threading.Event()
    played: list[bytes] = []

    def slow_player(audio: bytes) -> None:
        playing.set()
        release.wait(timeout=30)
        played.append(audio)

    with SpeechStub() as stub:
        speaker = Speaker(VoicevoxEngine(stub.url, 3), slow_player, [].append)
        speaker.say("First. ")
        speaker.say("Second. ")
        assert playing.wait(timeout=30)
        wait_for_sync(lambda: len(stub.asked) == 4, timeout=30, what="the second synthesis")
        assert played == []  # the first chunk is still playing
        release.set()
        speaker.close()
    assert len(played) == 2


def test_a_failing_engine_is_told_once_and_the_rest_left_unsaid(tmp_path: Path) -> None:
    notices: list[str] = []
    engine = EspeakEngine(binary="espeak-ng-not-here")
    speaker = Speaker(engine, WavFiles(tmp_path), notices.append)
    for chunk in ("One. ", "Two. ", "Three."):
        speaker.say(chunk)
    speaker.close()
    assert speaker.failed and len(notices) == 1
    assert notices[0].startswith("speech stopped: espeak-ng-not-here is not installed")
    assert list(tmp_path.iterdir()) == []


def test_the_client_imports_no_django() -> None:
    """`python -m chat.cli` needs no Django settings: it never imports Django."""
    code = (
        "import sys, chat.cli.main; chat.cli.main.engine_of(chat.cli.main.parser()"
        ".parse_args(['--speak'])); "
        "assert not [m for m in sys.modules if m.startswith('django')], 'django imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
