"""A VOICEVOX engine (or a server speaking its API): `POST /audio_query?text=&speaker=`
gives the query, `POST /synthesis?speaker=` with that query gives the WAV."""

from __future__ import annotations

import httpx

from chat.speech.base import SpeechError


class VoicevoxEngine:
    name = "voicevox"

    def __init__(self, base_url: str, speaker: int | str = 1, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.speaker = str(speaker)
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))

    def voice_for(self, text: str, voice: str | None) -> str:
        return voice or self.speaker

    def synthesize(self, text: str, voice: str | None = None) -> bytes:
        if not text.strip():
            raise SpeechError("Nothing to say: the text is empty.")
        speaker = self.voice_for(text, voice)
        try:
            with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
                query = client.post("/audio_query", params={"text": text, "speaker": speaker})
                _check(query, "audio_query")
                audio = client.post("/synthesis", params={"speaker": speaker}, json=query.json())
                _check(audio, "synthesis")
        except httpx.TimeoutException:
            raise SpeechError(f"VOICEVOX at {self.base_url} did not answer in time.") from None
        except httpx.HTTPError as exc:
            raise SpeechError(f"VOICEVOX at {self.base_url} is unreachable: {exc}") from None
        except ValueError:
            raise SpeechError(f"VOICEVOX at {self.base_url} sent a bad audio query.") from None
        return audio.content


def _check(response: httpx.Response, step: str) -> None:
    if response.status_code != 200:
        detail = response.text.strip().replace("\n", " ")[:200]
        raise SpeechError(f"VOICEVOX refused {step} ({response.status_code}): {detail}")
