"""Import through the settings page in a real Chromium (issue #24): a ChatGPT export
uploaded with its progress shown, then opened in the chat with its regenerated answer
and edited question as versions ("< 1/2 >"), switchable like any branch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import ASSISTANT, USER, ChatTab, wait_for_chat_page

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]
CHATGPT = Path(__file__).parent.parent / "data" / "chatgpt_conversations.json"


def test_an_imported_chatgpt_export_shows_its_branches(new_user: NewUser) -> None:
    tab = new_user()
    page = tab.page
    page.get_by_role("link", name="Settings").click()
    page.wait_for_url(f"{tab.base_url}/settings/")
    expect(page.locator("#export-all")).to_have_attribute("href", "/api/export/")
    page.set_input_files("#import-file", str(CHATGPT))
    page.click("#import-submit")
    status = page.locator("#import-status")
    expect(status).to_contain_text("Imported 2 conversations (12 messages).")
    expect(status).to_contain_text("8 system, tool or hidden messages left out.")
    expect(page.locator("#import-progress")).to_be_hidden()

    status.get_by_role("link", name="東京旅行の計画").click()
    wait_for_chat_page(page)
    answers, questions = page.locator(ASSISTANT), page.locator(USER)
    expect(answers).to_have_count(2)
    expect(answers.last.locator(".message-text")).to_contain_text("folium")
    expect(answers.last.locator("pre code")).to_contain_text("import folium")
    # The regenerated answer and the edited question: each the second of two versions.
    expect(answers.first.locator(".branch-position")).to_have_text("2/2")
    expect(questions.last.locator(".branch-position")).to_have_text("2/2")
    expect(questions.last.locator(".message-text")).to_contain_text("[image]")

    questions.last.locator(".branch-previous").click()  # the other edit, with its answer
    expect(questions.last.locator(".branch-position")).to_have_text("1/2")
    expect(questions.last.locator(".message-text")).to_have_text("天気を調べて")
    expect(answers.last.locator(".message-text")).to_have_text("東京は晴れ、25度です。")

    answers.first.locator(".branch-previous").click()  # the first answer, before regenerating
    expect(answers.first.locator(".branch-position")).to_have_text("1/2")
    expect(questions.last.locator(".message-text")).to_have_text("ありがとう！")

    # Importing the same file again adds nothing, and says so.
    page.goto(f"{tab.base_url}/settings/")
    page.set_input_files("#import-file", str(CHATGPT))
    page.click("#import-submit")
    expect(status).to_contain_text("Imported 0 conversations")
    expect(status).to_contain_text("2 already imported before")
