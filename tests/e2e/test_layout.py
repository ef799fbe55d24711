"""The chat page's layout in a real Chromium (issue #22, items 5 and 6): on a phone the
connection status covers no control, New chat is in the toolbar and the composer's
options take one line; a toast covers neither the message box nor a toolbar button.
Every check compares the bounding boxes the browser laid out."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Page, expect

from tests.e2e.helpers import USER, ChatTab

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}

# The boxes of the visible controls under `scope` (a CSS selector), as
# [description, {x, y, width, height}].
CONTROLS_JS = """(scope) => [...document.querySelectorAll(scope)].flatMap((root) =>
  [...root.querySelectorAll('button, select, input, textarea, a, label')].map((n) => {
    const r = n.getBoundingClientRect();
    const style = getComputedStyle(n);
    if (r.width < 2 || r.height < 2 || style.visibility === 'hidden') return null;
    const name = n.id ? `#${n.id}` : `${n.tagName.toLowerCase()}.${n.className}`;
    return [name, {x: r.x, y: r.y, width: r.width, height: r.height}];
  }).filter(Boolean))"""


def _overlaps(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def _controls(page: Page, scope: str) -> list[tuple[str, dict]]:
    return [(name, box) for name, box in page.evaluate(CONTROLS_JS, scope)]


def _covered(page: Page, box: dict, scope: str) -> list[str]:
    return [name for name, other in _controls(page, scope) if _overlaps(box, other)]


def test_phone_header_status_new_chat_and_one_line_of_options(new_user: NewUser) -> None:
    """At 390x844: "Connected" is a dot with its words in the tooltip that overlaps no
    button of the headers; every toolbar control fits in the width; New chat is in the
    toolbar (the drawer stays closed) and opens an empty chat; the composer's options
    are one button on one line, their controls in a popover."""
    tab = new_user(**PHONE)
    page = tab.page
    tab.finish(tab.ask("Hello from a phone"))
    first = tab.conversation_id()
    status = page.locator("#connection-status")
    expect(status).to_have_attribute("data-state", "connected")
    expect(status).to_be_visible()
    expect(status).to_have_attribute("title", "Connected")
    expect(status).to_have_text("Connected")  # what a screen reader reads
    dot = status.bounding_box()
    assert dot and dot["width"] <= 24, f"the status is not a dot on a phone: {dot}"
    overlaps = _covered(page, dot, ".site-header, .chat-toolbar")
    assert not overlaps, f"the connection status overlaps {overlaps}"
    width = page.evaluate("innerWidth")
    outside = [
        name
        for name, box in _controls(page, ".chat-toolbar")
        if box["x"] < 0 or box["x"] + box["width"] > width
    ]
    assert not outside, f"toolbar controls past the screen's edge: {outside}"
    instructions = page.locator("#instructions-button")
    expect(instructions).to_be_visible()
    expect(instructions).to_have_accessible_name("Instructions")

    # The composer: one line (Attach and Options), the options themselves in the popover.
    bar = _controls(page, ".composer-bar")
    assert [name for name, _ in bar] == ["#attach-button", "#options-button"], bar
    assert bar[0][1]["y"] == bar[1][1]["y"], bar  # side by side
    bar_box = page.locator(".composer-bar").bounding_box()
    assert bar_box and bar_box["height"] <= bar[1][1]["height"] + 2, bar_box
    for hidden in ("#chunking-select", "#chunk-hint-toggle", "#read-aloud-toggle"):
        expect(page.locator(hidden)).to_be_hidden()
    page.click("#options-button")
    expect(page.locator("#chunking-select")).to_be_visible()
    popover = page.locator("#options-popover").bounding_box()
    assert popover and popover["x"] >= 0 and popover["x"] + popover["width"] <= width, popover
    page.keyboard.press("Escape")
    expect(page.locator("#options-popover")).to_be_hidden()

    new_chat = page.locator("#toolbar-new-chat")
    expect(new_chat).to_be_visible()
    expect(new_chat).to_have_accessible_name("New chat")
    expect(page.locator("#sidebar")).to_be_hidden()
    new_chat.click()
    expect(page).not_to_have_url(re.compile(re.escape(first)))
    expect(page.locator(USER)).to_have_count(0)
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(page.locator("#message-input")).to_be_enabled()


def _toast_covers(page: Page) -> list[str]:
    """Shows a toast the way a user does (saving the instructions) and returns what it
    overlaps: the message box, or a control of the headers or of the composer."""
    page.click("#instructions-button")
    page.fill("#settings-instructions", "Answer briefly.")
    page.locator("#settings-dialog .settings-save").click()
    toast = page.locator("#toast-region .toast")
    expect(toast).to_contain_text("Instructions saved")
    box = toast.bounding_box()
    assert box
    covered = _covered(page, box, ".site-header, .chat-toolbar, .composer")
    page.evaluate("document.querySelector('#toast-region .toast').remove()")
    return covered


def test_a_toast_covers_neither_the_message_box_nor_a_button(new_user: NewUser) -> None:
    """A toast (here "Instructions saved"), on a desktop and on a phone, overlaps
    neither the message box nor any control of the headers or the composer."""
    tab = new_user()
    page = tab.page
    tab.finish(tab.ask("Hello"))
    assert _toast_covers(page) == [], "desktop"
    page.set_viewport_size(PHONE["viewport"])
    assert _toast_covers(page) == [], "phone"
