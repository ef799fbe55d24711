"""The operator's engine, built from the settings (SPEECH_ENGINE and the rest). The
only module of chat.speech that reads Django's settings, and only when called."""

from __future__ import annotations

from chat.speech.base import Engine, SpeechError
from chat.speech.cache import CachedEngine, SpeechCache
from chat.speech.espeak import EspeakEngine
from chat.speech.openai_speech import OpenAISpeechEngine
from chat.speech.voicevox import VoicevoxEngine

ENGINES = ("espeak", "voicevox", "openai")


def engine_from_settings() -> Engine:
    """The configured engine, uncached."""
    from django.conf import settings

    kind = settings.SPEECH_ENGINE
    if kind == "espeak":
        return EspeakEngine(voice=settings.SPEECH_VOICE)
    if kind == "voicevox":
        return VoicevoxEngine(settings.VOICEVOX_URL, settings.VOICEVOX_SPEAKER)
    if kind == "openai":
        if not settings.SPEECH_URL:
            raise SpeechError("SPEECH_ENGINE=openai needs SPEECH_URL (the server's /v1 URL).")
        return OpenAISpeechEngine(
            settings.SPEECH_URL,
            settings.SPEECH_API_KEY,
            settings.SPEECH_MODEL,
            settings.SPEECH_VOICE or "alloy",
        )
    raise SpeechError(f"SPEECH_ENGINE must be one of {', '.join(ENGINES)}, not {kind!r}.")


def cached_engine_from_settings() -> CachedEngine:
    """The configured engine behind the cache in SPEECH_CACHE_DIR."""
    from django.conf import settings

    return CachedEngine(engine_from_settings(), SpeechCache(settings.SPEECH_CACHE_DIR))


_shared: dict[tuple[object, ...], CachedEngine] = {}


def shared_engine() -> CachedEngine:
    """The process's one cached engine for the current settings: tabs asking for the
    same chunk at once wait for one synthesis (CachedEngine's per-chunk lock)."""
    from django.conf import settings

    names = ["SPEECH_ENGINE", "SPEECH_VOICE", "VOICEVOX_URL", "VOICEVOX_SPEAKER", "SPEECH_URL"]
    names += ["SPEECH_API_KEY", "SPEECH_MODEL"]
    config = (*(getattr(settings, name) for name in names), settings.SPEECH_CACHE_DIR)
    engine = _shared.get(config)
    if engine is None:
        engine = _shared[config] = cached_engine_from_settings()
    return engine
