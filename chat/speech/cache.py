"""Audio cached on disk per (engine, voice, text): a chunk said once is never sent to
the engine again, by this process or another sharing the directory."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

from chat.speech.base import Engine


def cache_key(engine: str, voice: str, text: str) -> str:
    """sha256 of the three, each kept apart (no separator can make two tuples collide)."""
    material = json.dumps([engine, voice, text], ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


class SpeechCache:
    """WAV files under `root/<2 hex>/<key>.wav`, written whole (a temporary file
    renamed) so a reader never sees half of one."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.wav"

    def get(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, audio: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
        with os.fdopen(handle, "wb") as file:
            file.write(audio)
        os.replace(temporary, target)


class CachedEngine:
    """An engine behind a cache. Requests for the same chunk at once in this process
    wait for the first one's synthesis instead of starting their own."""

    def __init__(self, engine: Engine, cache: SpeechCache) -> None:
        self.engine = engine
        self.cache = cache
        self.name = engine.name
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def voice_for(self, text: str, voice: str | None) -> str:
        return self.engine.voice_for(text, voice)

    def key(self, text: str, voice: str | None = None) -> str:
        return cache_key(self.engine.name, self.engine.voice_for(text, voice), text)

    def cached(self, text: str, voice: str | None = None) -> bool:
        """Whether this chunk is said already (no engine call, nothing to charge)."""
        return self.cache.path(self.key(text, voice)).exists()

    def synthesize(self, text: str, voice: str | None = None) -> bytes:
        key = self.key(text, voice)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            audio = self.cache.get(key)
            if audio is None:
                audio = self.engine.synthesize(text, voice)
                self.cache.put(key, audio)
        with self._guard:
            self._locks.pop(key, None)
        return audio
