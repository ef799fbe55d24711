"""Voice mode in a real Chromium (issue #23): the server's espeak-ng says each clause as
soon as it is written; the page plays the clips in order while the answer streams;
Stop and typing silence it; Replay voice plays an answer again; a second tab gets the
same clips (the same cached audio)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import ChatTab, pump
from tests.support.speech_stubs import needs_espeak

pytestmark = [pytest.mark.e2e, needs_espeak]

NewUser = Callable[..., ChatTab]
ANSWER = "Pears grow on trees, apples too. Plums are small, and sweet! Cherries come in pairs."


def turn_voice_on(tab: ChatTab) -> None:
    page = tab.page
    page.click("#options-button")
    toggle = page.locator("#server-voice-toggle")
    expect(toggle).to_be_visible()
    toggle.set_checked(True)
    page.select_option("#server-voice-mode", "clause")
    page.keyboard.press("Escape")


def played(tab: ChatTab) -> list[dict[str, Any]]:
    return tab.page.evaluate("window.ChatVoice.player.played")


def audio_frames(tab: ChatTab, answer: str) -> list[dict[str, Any]]:
    frames = tab.frames.all_received()
    return [f for f in frames if f.get("type") == "audio" and f.get("message_id") == answer]


def test_voice_mode_speaks_each_clause_in_order_while_the_answer_streams(
    new_user: NewUser,
) -> None:
    tab = new_user()
    turn_voice_on(tab)
    tab.new_chat()
    socket = tab.wait_connected()
    pump(tab.page, lambda: any(f.get("type") == "set_voice" for f in socket.sent), "set_voice")
    answer = tab.ask(f"/echo {ANSWER}")
    tab.finish(answer)
    spoken = lambda: " ".join(c["text"].strip() for c in audio_frames(tab, answer))  # noqa: E731
    pump(tab.page, lambda: spoken() == ANSWER, "every clause spoken")
    clips = audio_frames(tab, answer)
    assert len(clips) >= 5  # a clause at a time: "Pears grow on trees," …
    assert [c["seq"] for c in clips] == list(range(len(clips)))
    received = socket.received
    first_audio = received.index(clips[0])
    assert first_audio < received.index(socket.end(answer))  # heard before the answer ended
    # The page plays them one after another, in order, and each WAV loads.
    pump(tab.page, lambda: len(played(tab)) == len(clips), "every clip played", timeout=60)
    assert [(p["id"], p["seq"]) for p in played(tab)] == [(answer, c["seq"]) for c in clips]
    for clip in clips[:2]:
        response = tab.page.request.get(f"{tab.base_url}{clip['url']}")
        assert response.status == 200 and response.body()[:4] == b"RIFF"

    # A second tab of the conversation hears the same clips: the same cached audio.
    other = tab.open_tab(f"/c/{tab.conversation_id()}/")
    other.wait_connected()
    second = tab.ask(f"/echo {ANSWER}")
    tab.finish(second)
    heard = lambda t: [c["url"] for c in audio_frames(t, second)]  # noqa: E731
    pump(tab.page, lambda: len(heard(tab)) == len(clips), "our clips of the second answer")
    pump(other.page, lambda: len(heard(other)) == len(clips), "the other tab's clips")
    assert heard(other) == heard(tab)

    # Replay voice plays the first answer's clips again.
    before = len(played(tab))
    tab.page.evaluate("window.ChatVoice.hush(false)")
    replay = tab.bubble(answer).locator(".voice-replay-button")
    expect(replay).to_be_visible()
    replay.click()
    pump(tab.page, lambda: len(played(tab)) > before, "a replay")
    assert played(tab)[before] == {"id": answer, "seq": 0, "url": clips[0]["url"]}


def test_stop_and_typing_silence_the_voice_at_once(new_user: NewUser) -> None:
    tab = new_user()
    turn_voice_on(tab)
    tab.new_chat()
    tab.wait_connected()
    long_answer = " ".join([ANSWER] * 8)
    stopped = tab.ask(f"/echo {long_answer}")
    pump(tab.page, lambda: played(tab), "the first clip playing")
    tab.page.click("#stop-button")
    assert tab.page.evaluate("window.ChatVoice.player.current") is None  # silent at once
    tab.finish(stopped, status="stopped")
    heard = len(played(tab))
    typed_over = tab.ask(f"/echo {long_answer}")
    pump(tab.page, lambda: len(played(tab)) > heard, "the next answer's voice")
    tab.page.fill("#message-input", "wait")  # typing: barge-in
    assert tab.page.evaluate("window.ChatVoice.player.current") is None
    typed = len(played(tab))
    assert {"type": "hush"} in tab.frames.all_sent()
    tab.finish(typed_over)
    tab.page.fill("#message-input", "")
    last = tab.ask(f"/echo {ANSWER}")
    tab.finish(last)
    pump(tab.page, lambda: played(tab)[-1]["id"] == last, "the last answer's voice")
    # Nothing of the stopped answer played after the stop, nor of the other after typing.
    assert stopped not in [p["id"] for p in played(tab)[heard:]]
    assert typed_over not in [p["id"] for p in played(tab)[typed:]]
