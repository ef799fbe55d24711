"""The operator's engine from the settings; chat.speech reads them only when asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from chat.speech.base import SpeechError
from chat.speech.cache import CachedEngine
from chat.speech.espeak import EspeakEngine
from chat.speech.factory import cached_engine_from_settings, engine_from_settings
from chat.speech.openai_speech import OpenAISpeechEngine
from chat.speech.voicevox import VoicevoxEngine
from tests.e2e.servers import REPO_ROOT


def test_espeak_is_the_default() -> None:
    assert isinstance(engine_from_settings(), EspeakEngine)


@override_settings(SPEECH_ENGINE="voicevox", VOICEVOX_URL="http://vv:50021", VOICEVOX_SPEAKER=8)
def test_voicevox() -> None:
    engine = engine_from_settings()
    assert isinstance(engine, VoicevoxEngine)
    assert engine.base_url == "http://vv:50021" and engine.voice_for("x", None) == "8"


@override_settings(SPEECH_ENGINE="openai", SPEECH_URL="http://tts:8880/v1", SPEECH_MODEL="kokoro")
def test_openai_compatible() -> None:
    engine = engine_from_settings()
    assert isinstance(engine, OpenAISpeechEngine)
    assert engine.model == "kokoro" and engine.voice == "alloy"


@override_settings(SPEECH_ENGINE="openai", SPEECH_URL="")
def test_openai_needs_a_url() -> None:
    with pytest.raises(SpeechError, match="SPEECH_URL"):
        engine_from_settings()


def test_the_cached_engine_uses_the_configured_directory(tmp_path: Path) -> None:
    with override_settings(SPEECH_CACHE_DIR=str(tmp_path)):
        engine = cached_engine_from_settings()
    assert isinstance(engine, CachedEngine) and engine.cache.root == tmp_path


def test_the_engines_import_no_django() -> None:
    """The terminal client imports the engines without Django settings."""
    code = (
        "import sys, chat.speech.factory, chat.speech.espeak, chat.speech.cache; "
        "assert not [m for m in sys.modules if m.startswith('django')], 'django imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
