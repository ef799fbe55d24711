"""Read aloud in a real Chromium (issue #22, item 7): the developer options live in a
popover with one sentence each; every answer has its own "Read aloud" button, spoken in
the voice and at the speed the user picked (remembered across a reload).

Headless Chromium has no voices, so the page's window.speechSynthesis is replaced by an
init script that records each utterance (text, lang, voice, rate) and, like Chromium,
offers its voices only after a `voiceschanged` event: the page is tested against the
browser's API, not against a mock of our own code."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import ChatTab

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]

SPEECH_WITH_VOICES = """() => {
  window.__spoken = [];
  const voices = [
    { name: 'Alice', lang: 'en-GB', voiceURI: 'test-alice', localService: true, default: false },
    { name: 'Kyoko', lang: 'ja-JP', voiceURI: 'test-kyoko', localService: true, default: false },
  ];
  let ready = false;
  const listeners = [];
  class FakeUtterance {
    constructor(text) { Object.assign(this, { text, lang: '', rate: 1, voice: null }); }
  }
  window.SpeechSynthesisUtterance = FakeUtterance;
  Object.defineProperty(window, 'speechSynthesis', { configurable: true, value: {
    speak(u) {
      const voice = u.voice && u.voice.name;
      window.__spoken.push({ text: u.text, lang: u.lang, rate: u.rate, voice });
    },
    cancel() { window.__spoken.push({ cancel: true }); },
    pause() {}, resume() {},
    getVoices() { return ready ? voices : []; },
    speaking: false, pending: false,
    addEventListener(type, f) { if (type === 'voiceschanged') listeners.push(f); },
    removeEventListener() {},
  }});
  setTimeout(() => { ready = true; listeners.forEach((f) => f(new Event('voiceschanged'))); }, 100);
}"""

ANSWER = (
    "First sentence here. Second one!\n\n```python\nprint('code is not read')\n```\n\n"
    "日本語の文です。"
)


def _spoken(tab: ChatTab) -> list[dict]:
    return tab.page.evaluate("window.__spoken")


def test_options_explain_themselves_and_read_aloud_replays_an_answer(new_user: NewUser) -> None:
    """The composer shows no chunking control; the options popover gives each control one
    sentence; an answer's Read aloud button speaks that answer (not its code) in the
    chosen voice and speed, a second click stops it, and after a reload the choice holds."""
    tab = new_user()
    page = tab.page
    page.add_init_script(f"({SPEECH_WITH_VOICES})()")
    page.reload()
    answer = tab.ask(f"/echo {ANSWER}")
    tab.finish(answer)

    for control in ("#chunking-select", "#chunk-hint-toggle", "#read-aloud-toggle"):
        expect(page.locator(control)).to_be_hidden()
    page.click("#options-button")
    for control in (
        "#chunking-select",
        "#chunk-hint-toggle",
        "#read-aloud-toggle",
        "#voice-select",
        "#speech-rate",
    ):
        hint_id = page.locator(control).get_attribute("aria-describedby")
        hint = page.locator(f"#{hint_id}")
        expect(hint).to_be_visible()
        text = hint.inner_text().strip()
        assert text.endswith(".") and text.count(". ") == 0, f"{control}: {text!r}"
    voices = page.locator("#voice-select option")
    expect(voices).to_have_text(["Browser default", "Alice (en-GB)", "Kyoko (ja-JP)"])
    page.select_option("#voice-select", "test-alice")
    page.select_option("#speech-rate", "1.5")
    page.keyboard.press("Escape")

    read = tab.bubble(answer).locator(".read-aloud-button")
    expect(read).to_have_accessible_name("Read this answer aloud")
    page.evaluate("window.__spoken = []")
    read.click()
    expect(read).to_have_attribute("aria-pressed", "true")
    spoken = [s for s in _spoken(tab) if "text" in s]
    assert [s["text"] for s in spoken] == [
        "First sentence here.",
        "Second one!",
        "日本語の文です。",
    ], spoken
    assert [s["rate"] for s in spoken] == [1.5, 1.5, 1.5]
    # The chosen English voice reads English; Japanese falls back to a Japanese reading.
    assert [(s["voice"], s["lang"]) for s in spoken] == [
        ("Alice", "en-GB"),
        ("Alice", "en-GB"),
        (None, "ja-JP"),
    ]
    read.click()
    expect(read).to_have_attribute("aria-pressed", "false")
    assert _spoken(tab)[-1] == {"cancel": True}

    page.reload()
    tab.wait_connected()
    expect(page.locator("#voice-select")).to_have_value("test-alice")
    expect(page.locator("#speech-rate")).to_have_value("1.5")
    page.evaluate("window.__spoken = []")
    tab.bubble(answer).locator(".read-aloud-button").click()
    again = [s for s in _spoken(tab) if "text" in s]
    assert [(s["text"], s["voice"], s["rate"]) for s in again][:1] == [
        ("First sentence here.", "Alice", 1.5)
    ]
