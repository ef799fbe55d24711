"""The chat page's ES modules in Chromium (issue #24): they load in the page's order with
the classic scripts, without a script error, and every module of the page is fetched
(a module served with a wrong type would not run, and the page would not work)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import ChatTab, wait_for_chat_page

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]
MODULES = ("main", "page", "protocol", "store", "render", "frames", "composer", "sidebar")


def test_the_modules_load_and_an_answer_streams_without_a_script_error(new_user: NewUser) -> None:
    tab = new_user()
    errors: list[str] = []
    scripts: dict[str, int] = {}
    tab.page.on("pageerror", lambda error: errors.append(str(error)))
    tab.page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.page.on(
        "response",
        lambda r: (
            scripts.__setitem__(r.url.rsplit("/", 1)[-1], r.status)
            if "/static/chat/" in r.url and r.url.endswith(".js")
            else None
        ),
    )
    tab.page.reload()
    wait_for_chat_page(tab.page)
    expect(tab.page.locator("#conversation-title")).to_have_text("New chat")
    answer = tab.ask("Do the modules work?")
    tab.finish(answer)
    expect(tab.page.locator("#connection-status")).to_have_text("Connected")
    for name in MODULES:
        assert scripts.get(f"{name}.js") in (200, 304), (name, scripts)
    assert "chat.js" not in scripts
    assert errors == []
