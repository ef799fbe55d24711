"""The language in a real Chromium (issue #24): the header's switch works with scripts
off and is remembered; a Japanese browser gets Japanese pages."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Browser, expect

from tests.e2e.helpers import ChatTab
from tests.e2e.servers import Server

pytestmark = pytest.mark.e2e


def test_the_switch_works_without_scripts_and_is_remembered(
    browser: Browser, server: Server
) -> None:
    context = browser.new_context(java_script_enabled=False, locale="en-US")
    try:
        page = context.new_page()
        page.goto(f"{server.url}/accounts/login/")
        expect(page.locator("#auth-title")).to_have_text("Log in")
        page.select_option("#language-select", "ja")
        page.click("#language-submit")
        page.wait_for_url(f"{server.url}/accounts/login/")
        expect(page.locator("html")).to_have_attribute("lang", "ja")
        expect(page.locator("#auth-title")).to_have_text("ログイン")
        page.goto(f"{server.url}/accounts/signup/")  # the cookie beats Accept-Language
        expect(page.locator("#auth-title")).to_have_text("アカウントを作成")
        expect(page.locator("#language-select")).to_have_value("ja")
        page.select_option("#language-select", "en")
        page.click("#language-submit")
        expect(page.locator("#auth-title")).to_have_text("Create an account")
    finally:
        context.close()


def test_a_japanese_browser_gets_the_pages_in_japanese(
    new_user: Callable[..., ChatTab],
) -> None:
    tab = new_user(locale="ja-JP")
    page = tab.page
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator(".site-header")).to_contain_text("ログアウト")
    page.get_by_role("link", name="設定").click()
    page.wait_for_url(f"{tab.base_url}/settings/")
    expect(page.locator("#settings-title")).to_have_text("設定")
    expect(page.get_by_label("新しいチャットの既定の指示")).to_be_visible()
