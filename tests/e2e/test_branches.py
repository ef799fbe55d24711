"""Branches in a real Chromium: regenerate an answer, flip between its versions with
"< 1/2 >", edit an earlier question and come back to the first branch, with a second tab
of the same conversation following every step live; and switch the model for the next
message between two models that answer differently."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import ASSISTANT, USER, ChatTab, pump
from tests.e2e.servers import Server, another_server
from tests.support.openai_stub import OpenAIStub, Reply

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]


def shown(tab: ChatTab) -> list[str]:
    """The ids of the messages the page shows, in order."""
    return tab.page.eval_on_selector_all(
        "#messages > .message[data-id]", "nodes => nodes.map(n => n.dataset.id)"
    )


def path_ids(tab: ChatTab, conversation_id: str) -> list[str]:
    return [m["id"] for m in tab.conversation(conversation_id)["messages"]]


def test_regenerate_edit_and_switch_branches_in_two_tabs(new_user: NewUser) -> None:
    tab = new_user()
    page = tab.page
    first = tab.ask("/echo Apples are red.")
    tab.finish(first)
    conversation = tab.conversation_id()
    second = tab.ask("/echo Bananas are yellow.")
    tab.finish(second)
    other = tab.open_tab(f"/c/{conversation}/")
    other.wait_connected()

    # Regenerate the last answer: a new version streams in its place; both are kept.
    tab.bubble(second).locator(".branch-regenerate").click()
    expect(tab.bubble(second)).to_have_count(0)
    regenerated = tab.page.locator(ASSISTANT).nth(1).get_attribute("data-id") or ""
    assert regenerated and regenerated != second
    tab.finish(regenerated)
    for view in (tab, other):
        expect(view.bubble(regenerated).locator(".branch-position")).to_have_text("2/2")
        expect(view.bubble(second)).to_have_count(0)
    tab.assert_wire_matches_db(conversation, regenerated)

    # "<": the first version again, in both tabs; the path saved follows.
    tab.bubble(regenerated).locator(".branch-previous").click()
    for view in (tab, other):
        expect(view.bubble(second).locator(".branch-position")).to_have_text("1/2")
        expect(view.bubble(regenerated)).to_have_count(0)
    assert path_ids(tab, conversation)[-1] == second

    # Edit the first question: a new branch from the start; the old one stays.
    question = page.locator(USER).first.get_attribute("data-id") or ""
    tab.bubble(question).locator(".branch-edit").click()
    editor = tab.bubble(question).locator(".branch-editor-input")
    expect(editor).to_have_value("/echo Apples are red.")
    editor.fill("/echo Cherries are dark.")
    editor.press("Enter")
    edited_answer = tab.page.locator(ASSISTANT).first
    expect(edited_answer.locator(".message-text")).to_have_text("Cherries are dark.")
    edited_question = page.locator(USER).first
    expect(edited_question.locator(".branch-position")).to_have_text("2/2")
    for view in (tab, other):
        expect(view.page.locator(USER)).to_have_count(1)
        expect(view.page.locator(ASSISTANT)).to_have_count(1)
        expect(view.page.locator(ASSISTANT).first.locator(".message-text")).to_have_text(
            "Cherries are dark."
        )
    assert len(path_ids(tab, conversation)) == 2

    # Back to the first version of the question: its whole branch returns, in both tabs,
    # as the server has it, down its newest versions (the regenerated answer).
    edited_question.locator(".branch-previous").click()
    for view in (tab, other):
        expect(view.page.locator(ASSISTANT)).to_have_count(2)
        expect(view.bubble(question).locator(".branch-position")).to_have_text("1/2")
    assert shown(tab) == shown(other) == path_ids(tab, conversation)
    assert shown(tab)[-1] == regenerated
    errors = [
        f for f in tab.frames.all_received() + other.frames.all_received() if f["type"] == "error"
    ]
    assert errors == []


@pytest.fixture
def two_models(server_env: dict) -> Iterator[Server]:
    """A server offering two models: a loopback OpenAI-compatible one (the default),
    through the real ChatOpenAI client, and the offline demo model."""
    with OpenAIStub() as stub:
        stub.replies.extend(Reply(deltas=["Hello", " from", " Alpha."]) for _ in range(3))
        models = [{"name": "alpha", "label": "Alpha", "base_url": stub.base_url}]
        env = {"LLM_MODELS": json.dumps(models), "LLM_MAX_RETRIES": "0"}
        with another_server("server-two-models", server_env, **env) as server:
            yield server


def test_switch_the_model_for_the_next_message(new_user: NewUser, two_models: Server) -> None:
    tab = new_user(base_url=two_models.url)
    first = tab.ask("Who answers?")
    tab.finish(first)
    conversation = tab.conversation_id()
    expect(tab.message_text(first)).to_have_text("Hello from Alpha.")
    expect(tab.page.locator("#model-select")).to_have_value("alpha")  # the default
    tab.page.select_option("#model-select", "demo-offline")
    pump(tab.page, lambda: tab.conversation(conversation)["model"] == "demo-offline", "the save")
    second = tab.ask("/echo And now the demo.")
    tab.finish(second)
    expect(tab.message_text(second)).to_have_text("And now the demo.")
    saved = {m["id"]: m["model"] for m in tab.conversation(conversation)["messages"]}
    assert (saved[first], saved[second]) == ("alpha", "demo-offline")
    expect(tab.bubble(first).locator(".message-meta")).to_contain_text("alpha")
    expect(tab.bubble(second).locator(".message-meta")).to_contain_text("demo-offline")
