"""The user's preferences in a real Chromium: default instructions set on the settings
page start every new chat (shown in its Instructions dialog, obeyed by the demo model),
and the appearance switch changes the page at once and for good."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Page, expect

from tests.e2e.helpers import ChatTab, pump, wait_for_chat_page

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]
FRENCH = "Answer in French, and be brief."
WHITE, DARK = "rgb(255, 255, 255)", "rgb(20, 22, 26)"  # chat.css --bg, light and dark

PREFERENCES_JS = """async () => {
  const res = await fetch('/api/preferences/', {headers: {Accept: 'application/json'}});
  return res.json();
}"""


def expect_background(page: Page, colour: str) -> None:
    """The page's background becomes `colour` (waits for its stylesheet on a busy machine)."""
    expect(page.locator("body")).to_have_css("background-color", colour)


def code_theme(page: Page) -> str:
    """Which code colouring stylesheet applies now: light, dark (or both, or none)."""
    return str(
        page.evaluate(
            """() => ['light', 'dark'].filter((s) =>
                 matchMedia(document.getElementById(`code-theme-${s}`).media).matches).join()"""
        )
    )


def test_default_instructions_start_a_new_chat_and_are_obeyed(new_user: NewUser) -> None:
    tab = new_user()
    page = tab.page
    page.get_by_role("link", name="Settings").click()
    page.wait_for_url(f"{tab.base_url}/settings/")
    page.get_by_label("Default instructions for new chats").fill(FRENCH)
    page.click(".preferences-form [type=submit]")
    page.wait_for_url(f"{tab.base_url}/settings/")
    expect(page.locator(".settings-messages")).to_contain_text("Your settings are saved.")
    expect(page.get_by_label("Default instructions for new chats")).to_have_value(FRENCH)

    page.get_by_role("link", name="← Back to the chat").click()
    page.wait_for_url(f"{tab.base_url}/")
    wait_for_chat_page(page)
    # The new chat, before its first message, already has them, as if typed.
    expect(page.locator("#instructions-button")).to_have_class(re.compile(r"has-instructions"))
    page.click("#instructions-button")
    expect(page.locator("#settings-instructions")).to_have_value(FRENCH)
    page.keyboard.press("Escape")
    expect(page.locator("#settings-dialog")).to_be_hidden()

    answer = tab.ask("Bonjour")
    conversation_id = tab.conversation_id()
    tab.finish(answer)
    expect(tab.message_text(answer)).to_contain_text("Vous avez dit : « Bonjour ».")
    assert tab.conversation(conversation_id)["instructions"] == FRENCH
    page.click("#instructions-button")
    expect(page.locator("#settings-instructions")).to_have_value(FRENCH)
    page.keyboard.press("Escape")

    # "New chat" again: the same start, until the user clears them for this chat.
    page.click("#new-chat")
    page.wait_for_url(f"{tab.base_url}/")
    page.click("#instructions-button")
    expect(page.locator("#settings-instructions")).to_have_value(FRENCH)
    page.fill("#settings-instructions", "")
    page.locator("#settings-dialog .settings-save").click()
    expect(page.locator("#instructions-button")).not_to_have_class(re.compile(r"has-instructions"))
    plain = tab.ask("Hello")
    cleared = tab.conversation_id()
    tab.finish(plain)
    assert cleared != conversation_id and tab.conversation(cleared)["instructions"] == ""
    expect(tab.message_text(plain)).not_to_contain_text("Vous avez dit")


def test_the_switch_cycles_the_theme_at_once_and_it_stays(new_user: NewUser) -> None:
    tab = new_user(color_scheme="light")
    page = tab.page
    switch = page.get_by_role("button", name=re.compile(r"^Appearance: "))
    expect(switch).to_have_attribute("aria-label", "Appearance: System (next: Light)")
    expect_background(page, WHITE)
    assert code_theme(page) == "light"

    switch.click()  # Light: what the device shows anyway
    expect(switch).to_have_attribute("aria-label", "Appearance: Light (next: Dark)")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    switch.click()  # Dark: the page changes at once
    expect(switch).to_have_attribute("aria-label", "Appearance: Dark (next: System)")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect_background(page, DARK)
    assert code_theme(page) == "dark"
    pump(page, lambda: page.evaluate(PREFERENCES_JS)["theme"] == "dark", "the saved theme")

    page.reload()
    wait_for_chat_page(page)
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect_background(page, DARK)
    assert code_theme(page) == "dark"
    expect(switch).to_have_attribute("aria-label", "Appearance: Dark (next: System)")
    page.goto(f"{tab.base_url}/settings/")  # every page of the user's
    expect_background(page, DARK)
    expect(page.get_by_label("Dark")).to_be_checked()

    page.goto(f"{tab.base_url}/")
    wait_for_chat_page(page)
    switch.click()  # System: the device's light again
    expect(page.locator("html")).not_to_have_attribute("data-theme", re.compile(r".*"))
    expect_background(page, WHITE)
    assert code_theme(page) == "light"
    pump(page, lambda: page.evaluate(PREFERENCES_JS)["theme"] == "system", "the saved theme")
    page.reload()
    wait_for_chat_page(page)
    expect_background(page, WHITE)


def test_a_choice_beats_the_device_and_signed_out_pages_follow_the_device(
    new_user: NewUser,
) -> None:
    tab = new_user(color_scheme="dark")
    page = tab.page
    expect_background(page, DARK)  # System: the device's dark
    page.goto(f"{tab.base_url}/settings/")
    page.get_by_label("Light").check()
    page.click(".preferences-form [type=submit]")
    expect(page.locator(".settings-messages")).to_contain_text("Your settings are saved.")
    expect_background(page, WHITE)
    page.goto(f"{tab.base_url}/")
    wait_for_chat_page(page)
    expect_background(page, WHITE)
    assert code_theme(page) == "light"

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    expect(page.locator("html")).not_to_have_attribute("data-theme", re.compile(r".*"))
    expect_background(page, DARK)
