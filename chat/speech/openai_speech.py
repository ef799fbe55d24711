"""Any OpenAI-compatible speech endpoint (`POST <base_url>/audio/speech`, base_url
ending in `/v1`), through the official `openai` client, asked for WAV."""

from __future__ import annotations

import openai

from chat.speech.base import SpeechError


class OpenAISpeechEngine:
    name = "openai-speech"

    def __init__(
        self,
        base_url: str,
        api_key: str = "",
        model: str = "tts-1",
        voice: str = "alloy",
        *,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.voice = voice
        # Local servers need no key, but the client insists on one.
        self.client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=0
        )

    @property
    def _server(self) -> str:
        return f"The speech server at {self.base_url}"

    def voice_for(self, text: str, voice: str | None) -> str:
        return f"{self.model}/{voice or self.voice}"

    def synthesize(self, text: str, voice: str | None = None) -> bytes:
        if not text.strip():
            raise SpeechError("Nothing to say: the text is empty.")
        try:
            response = self.client.audio.speech.create(
                model=self.model, voice=voice or self.voice, input=text, response_format="wav"
            )
        except openai.APITimeoutError:
            raise SpeechError(f"{self._server} did not answer in time.") from None
        except openai.APIConnectionError as exc:
            raise SpeechError(f"{self._server} is unreachable: {exc}") from None
        except openai.APIStatusError as exc:
            refused = f"{self._server} refused ({exc.status_code}): {exc.message}"
            raise SpeechError(refused) from None
        return response.read()
