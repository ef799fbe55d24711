"""The model picker, the instructions dialog and presets in a real Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import ChatTab, pump

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]

FETCH_JSON_JS = """async (url) => {
  const res = await fetch(url, {headers: {Accept: 'application/json'}, credentials: 'same-origin'});
  if (!res.ok) throw new Error(`GET ${url} -> ${res.status}`);
  return res.json();
}"""


def test_model_instructions_and_a_preset(new_user: NewUser) -> None:
    """The picker lists the configured models; choosing one is saved and survives a
    reload; instructions set in the dialog are saved and reach a second tab; saved as a
    preset, they start a new chat that has them, and its answer comes from that model."""
    tab = new_user()
    page = tab.page
    conversation_id = tab.new_chat()
    models = page.evaluate(FETCH_JSON_JS, "/api/models/")
    picker = page.locator("#model-select")
    expect(picker).to_be_enabled()
    keys = picker.locator("option").evaluate_all("options => options.map((o) => o.value)")
    assert keys == [m["key"] for m in models["models"]] and "demo-offline" in keys
    assert tab.conversation(conversation_id)["model"] == ""  # the default, until chosen

    picker.select_option("demo-offline")
    pump(page, lambda: tab.conversation(conversation_id)["model"] == "demo-offline", "the PATCH")
    page.reload()
    tab.wait_connected()
    expect(page.locator("#model-select")).to_have_value("demo-offline")

    other = tab.open_tab(f"/c/{conversation_id}/")
    other.wait_connected()
    page.click("#instructions-button")
    dialog = page.locator("#settings-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#settings-instructions")).to_be_focused()
    page.fill("#settings-instructions", "Answer like a ship's captain.")
    page.fill("#settings-temperature", "0.3")
    dialog.locator(".settings-save").click()
    expect(dialog).to_be_hidden()
    saved = tab.conversation(conversation_id)
    assert (saved["instructions"], saved["temperature"]) == ("Answer like a ship's captain.", 0.3)
    pump(
        other.page,
        lambda: any(
            f["conversation"]["instructions"] == "Answer like a ship's captain."
            for f in other.frames.sockets[-1].of_type("conversation")
        ),
        "the other tab's conversation frame",
    )
    other.page.click("#instructions-button")
    expect(other.page.locator("#settings-instructions")).to_have_value(
        "Answer like a ship's captain."
    )
    expect(other.page.locator("#settings-temperature")).to_have_value("0.3")
    other.page.keyboard.press("Escape")  # cancels
    expect(other.page.locator("#settings-dialog")).to_be_hidden()
    other.page.close()

    page.click("#instructions-button")
    dialog.locator(".settings-save-preset").click()
    page.fill("#app-dialog-input", "Captain")
    page.locator("#app-dialog .app-dialog-ok").click()
    expect(page.locator(".toast-text")).to_contain_text("Captain")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.click("#presets-button")
    start = page.locator("#presets-dialog .preset-item .preset-start", has_text="Captain")
    expect(start).to_be_focused()
    start.click()
    # A new chat, saved with its first message: until then it shows the preset's settings.
    page.wait_for_url(f"{tab.base_url}/")
    expect(page.locator("#model-select")).to_have_value("demo-offline")
    expect(page.locator("#instructions-button")).to_have_class(re.compile(r"has-instructions"))
    answer = tab.ask("Ahoy?")
    page.wait_for_url(re.compile(r"/c/(?!" + conversation_id + r")[^/]+/$"))
    from_preset = tab.conversation_id()
    created = tab.conversation(from_preset)
    assert (created["instructions"], created["temperature"], created["model"]) == (
        "Answer like a ship's captain.",
        0.3,
        "demo-offline",
    )
    tab.finish(answer)
    assert tab.saved_message(from_preset, answer)["model"] == "demo-offline"
