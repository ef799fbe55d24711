"""Screenshots of the chat page for the docs: docs/screenshots/*.png.

Written only with UPDATE_SCREENSHOTS=1, so a normal run (CI) never changes the tree:

    UPDATE_SCREENSHOTS=1 pytest tests/e2e/test_screenshots.py

Japanese text needs CJK fonts on the machine (Debian: `apt-get install fonts-noto-cjk`).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Browser, expect

from tests.e2e.helpers import ASSISTANT, ChatTab, wait_for_chat_page
from tests.e2e.servers import REPO_ROOT, Server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.environ.get("UPDATE_SCREENSHOTS") != "1",
        reason="screenshots are only written with UPDATE_SCREENSHOTS=1",
    ),
]

SCREENSHOT_DIR = REPO_ROOT / "docs" / "screenshots"

MARKDOWN_ANSWER = """\
A **Markdown** answer:

```python
print("streamed, saved, chunked")
```

| Mode | Emits |
|---|---|
| line | whole lines |
| sentence | whole sentences |
"""

RENAME_JS = """async ([id, title]) => {
  const csrf = document.cookie.match(/(?:^|;\\s*)csrftoken=([^;]+)/);
  const res = await fetch(`/api/conversations/${id}/`, {
    method: 'PATCH', credentials: 'same-origin', body: JSON.stringify({title}),
    headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf ? csrf[1] : ''},
  });
  if (!res.ok) throw new Error(`PATCH -> ${res.status}`);
}"""

VARIANTS = {
    "desktop-light": {"viewport": {"width": 1280, "height": 800}, "color_scheme": "light"},
    "desktop-dark": {"viewport": {"width": 1280, "height": 800}, "color_scheme": "dark"},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "color_scheme": "light",
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}


def test_write_screenshots(new_user: Callable[..., ChatTab], browser: Browser, server: Server):
    """Writes desktop light/dark and phone screenshots of a conversation with a normal
    demo answer and a Markdown-ish answer (code block, table), both finished."""
    tab = new_user(username="alice")
    # The demo answer (English and Japanese) last, so that every viewport shows it.
    for prompt in (f"/echo {MARKDOWN_ANSWER}", "What can this chat server do?"):
        answer = tab.ask(prompt)
        tab.finish(answer)
    conversation = tab.conversation_id()
    # A readable title rather than the first message's "/echo …" (the title's API).
    tab.page.evaluate(RENAME_JS, [conversation, "Streaming, Markdown and 日本語"])
    state = tab.page.context.storage_state()

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    for name, options in VARIANTS.items():
        context = browser.new_context(storage_state=state, locale="en-US", **options)
        try:
            page = context.new_page()
            page.goto(f"{server.url}/c/{conversation}/")
            wait_for_chat_page(page)
            expect(page.locator(f"{ASSISTANT}[data-status='complete']")).to_have_count(2)
            expect(page.locator("#conversation-list .conversation-item.active")).to_have_count(1)
            expect(page.locator("#connection-status")).to_have_attribute("data-state", "connected")
            page.locator("#message-input").blur()
            page.evaluate("document.fonts.ready.then(() => true)")
            page.wait_for_timeout(200)  # let the last layout settle (scroll, fonts)
            path = SCREENSHOT_DIR / f"{name}.png"
            page.screenshot(path=str(path))
            assert path.stat().st_size > 10_000, f"{path} looks empty"
        finally:
            context.close()


def test_write_branch_and_search_screenshot(new_user: Callable[..., ChatTab]) -> None:
    """docs/screenshots/branches-search.png: a regenerated answer ("< 2/2 >") and the
    sidebar's search with a highlighted match."""
    tab = new_user(username="maya", viewport={"width": 1280, "height": 800})
    tab.finish(tab.ask("/echo Kyoto in spring: temples, gardens and cherry blossoms."))
    first = tab.ask("What can this chat server do?")
    tab.finish(first)
    tab.bubble(first).locator(".branch-regenerate").click()
    expect(tab.page.locator(".branch-position")).to_have_text("2/2")
    expect(tab.page.locator(f"{ASSISTANT}[data-status='complete']")).to_have_count(2)
    tab.page.fill("#search-input", "cherry")
    expect(tab.page.locator("#search-hits mark").first).to_be_visible()
    tab.page.evaluate("document.fonts.ready.then(() => true)")
    tab.page.wait_for_timeout(200)  # let the last layout settle (scroll, fonts)
    path = SCREENSHOT_DIR / "branches-search.png"
    tab.page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"{path} looks empty"


def test_write_phone_header_screenshot(new_user: Callable[..., ChatTab]) -> None:
    """docs/screenshots/phone-header.png: the toolbar on a phone (menu, title, model,
    instructions, the connection dot and New chat), and the answer's action row."""
    tab = new_user(username="hana", **VARIANTS["phone"])
    tab.finish(tab.ask("What can this chat server do?"))
    tab.page.evaluate(RENAME_JS, [tab.conversation_id(), "東京の週末: a weekend plan"])
    tab.page.reload()
    tab.wait_connected()
    tab.page.locator("#message-input").blur()
    tab.page.evaluate("document.fonts.ready.then(() => true)")
    tab.page.wait_for_timeout(200)  # let the last layout settle (scroll, fonts)
    toolbar = tab.page.locator(".chat-toolbar").bounding_box()
    assert toolbar
    path = SCREENSHOT_DIR / "phone-header.png"
    clip = {"x": 0, "y": 0, "width": 390, "height": toolbar["y"] + toolbar["height"] + 4}
    tab.page.screenshot(path=str(path), clip=clip)
    assert path.stat().st_size > 5_000, f"{path} looks empty"


def test_write_math_screenshot(new_user: Callable[..., ChatTab]) -> None:
    """docs/screenshots/math-answer.png: the demo's `/math` answer, inline and display
    math rendered by KaTeX, and a price that stays text."""
    tab = new_user(username="emmy", viewport={"width": 1280, "height": 800})
    answer = tab.ask("/math")
    tab.finish(answer)
    tab.page.evaluate(RENAME_JS, [tab.conversation_id(), "Math: Euler and an integral"])
    tab.page.reload()
    tab.wait_connected()
    expect(tab.message_text(answer).locator(".katex")).to_have_count(3)
    tab.page.locator("#message-input").blur()
    tab.page.evaluate("document.fonts.ready.then(() => true)")
    tab.page.wait_for_timeout(200)  # let the last layout settle (scroll, fonts)
    path = SCREENSHOT_DIR / "math-answer.png"
    tab.page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"{path} looks empty"


def test_write_japanese_screenshot(new_user: Callable[..., ChatTab]) -> None:
    """docs/screenshots/desktop-ja.png and account-ja.png: the chat page and the account
    page in a Japanese browser (ja-JP sends Accept-Language: ja): the page's words in
    Japanese, a demo-ja answer as written."""
    tab = new_user(username="sakura", locale="ja-JP", viewport={"width": 1280, "height": 800})
    page = tab.page
    page.select_option("#model-select", "demo-ja")
    expect(page.locator("#model-select")).to_have_value("demo-ja")
    tab.finish(tab.ask("このチャットサーバーは何ができますか？"))
    tab.page.evaluate(RENAME_JS, [tab.conversation_id(), "チャットサーバーの紹介"])
    page.reload()
    tab.wait_connected()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("#conversation-list")).to_contain_text("今日")
    page.locator("#message-input").blur()
    page.evaluate("document.fonts.ready.then(() => true)")
    page.wait_for_timeout(200)  # let the last layout settle (scroll, fonts)
    path = SCREENSHOT_DIR / "desktop-ja.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    # The account page, in Japanese too (docs/screenshots/account-ja.png).
    page.goto(f"{tab.base_url}/settings/account/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    page.evaluate("document.fonts.ready.then(() => true)")
    path = SCREENSHOT_DIR / "account-ja.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} looks empty"
