"""The chat page in a real Chromium against real Daphne servers, Redis and a database.

Every answer check leans on the wire contract's invariant: for one connection, the
`chunk` texts of an answer joined in `seq` order (after the `history` text, for a
connection that joined mid-answer) equal the content saved in the database. The
rendered text is only used for "it grows" and "it contains" checks, since assistant
text may be rendered as Markdown.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import ASSISTANT, USER, ChatTab, grew_while_streaming
from tests.e2e.servers import Server

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]


def test_answer_streams_live_and_matches_the_database(new_user: NewUser) -> None:
    """A new user's first message gets an answer that visibly grows while `streaming`,
    ends `complete`, and whose chunk frames add up to exactly the saved content."""
    tab = new_user()
    answer = tab.ask("How does streaming work in this chat?")
    conversation = tab.conversation_id()
    expect(tab.page.locator(USER)).to_have_count(1)
    tab.finish(answer)

    lengths = tab.streaming_lengths(answer)
    assert grew_while_streaming(lengths), f"text lengths while streaming: {lengths}"
    saved = tab.assert_wire_matches_db(conversation, answer)
    assert saved["status"] == "complete"
    assert saved["content"].startswith('You said: "How does streaming work in this chat?"')
    first_words = " ".join(saved["content"].split()[:2])
    expect(tab.message_text(answer)).to_contain_text(first_words)
    expect(tab.page.locator("#stop-button")).to_be_hidden()
    expect(tab.page.locator("#send-button")).to_be_visible()


def test_two_users_at_once_see_only_their_own_answers(new_user: NewUser) -> None:
    """Two users whose answers stream at the same time: each page shows its own answer
    only, no frame of one reaches the other, and each wire text equals its own DB row."""
    alice, bob = new_user(), new_user()
    prompts = {"alice": "Alice asks about apricots", "bob": "Bob asks about blueberries"}
    alice_index = alice.send(prompts["alice"])
    bob_index = bob.send(prompts["bob"])
    alice_answer, bob_answer = alice.answer_id(alice_index), bob.answer_id(bob_index)
    # Really at the same time: Alice's answer is still streaming once Bob's has started.
    bob.wait_status(bob_answer, "streaming")
    assert alice.bubble(alice_answer).get_attribute("data-status") == "streaming"

    alice.finish(alice_answer)
    bob.finish(bob_answer)
    for tab, me, other, answer in (
        (alice, "alice", "bob", alice_answer),
        (bob, "bob", "alice", bob_answer),
    ):
        saved = tab.assert_wire_matches_db(tab.conversation_id(), answer)
        assert saved["content"].startswith(f'You said: "{prompts[me]}"')
        expect(tab.message_text(answer)).to_contain_text(prompts[me])
        expect(tab.page.locator("#messages")).not_to_contain_text(prompts[other])
        assert prompts[other] not in json.dumps(tab.frames.all_received(), ensure_ascii=False)
        foreign = {f.get("message_id") for f in tab.frames.all_received()} - {None, answer}
        assert not foreign, f"{me} received frames of other answers: {foreign}"
        expect(tab.page.locator(ASSISTANT)).to_have_count(1)


def test_second_tab_of_the_same_conversation_shows_the_answer_live(new_user: NewUser) -> None:
    """Two tabs of one user on one conversation URL: the message typed in the first tab
    and its answer appear live in the second, and both end with the database's text."""
    first = new_user()
    conversation = first.new_chat()
    second = first.open_tab(f"/c/{conversation}/")
    second.wait_connected()

    prompt = "Two tabs, one conversation"
    answer = first.ask(prompt)
    second.wait_status(answer, "streaming")
    expect(second.page.locator(USER)).to_contain_text(prompt)
    first.finish(answer)
    second.finish(answer)

    lengths = second.streaming_lengths(answer)
    assert grew_while_streaming(lengths), f"second tab's lengths while streaming: {lengths}"
    saved = first.assert_wire_matches_db(conversation, answer)
    assert second.assert_wire_matches_db(conversation, answer) == saved
    assert first.message_text(answer).inner_text() == second.message_text(answer).inner_text()
    expect(second.page.locator(ASSISTANT)).to_have_count(1)


def test_reload_mid_answer_resumes_without_loss_or_duplicates(new_user: NewUser) -> None:
    """Reloading while an answer streams: the new connection's history carries the text
    so far (status `streaming`), the rest arrives as chunks, the sum equals the saved
    answer, and the page shows it once."""
    tab = new_user()
    answer = tab.ask("Please survive a reload in the middle of this answer, thank you")
    conversation = tab.conversation_id()
    tab.wait_text_length(answer, 10)
    tab.page.reload()
    tab.finish(answer)

    after_reload = tab.frames.sockets[-1]
    assert len(tab.frames.sockets) >= 2
    history = after_reload.history()
    assert history is not None
    joined = [m for m in history["messages"] if m["id"] == answer]
    assert joined and joined[0]["status"] == "streaming", "the reload was not mid-answer"
    assert after_reload.chunks(answer), "no live chunks after the reload"
    saved = tab.saved_message(conversation, answer)
    assert saved["status"] == "complete"
    assert after_reload.received_text(answer) == saved["content"]

    expect(tab.page.locator(ASSISTANT)).to_have_count(1)
    expect(tab.page.locator(USER)).to_have_count(1)
    shown = tab.page.locator("#messages").inner_text()
    for marker in ("This conversation had", "Reply code", "made offline"):
        assert shown.count(marker) == 1, f"{marker!r} shown {shown.count(marker)} times"


def test_stop_keeps_the_partial_answer(new_user: NewUser) -> None:
    """Stop mid-answer: the answer ends `stopped` on the page, on the wire and in the
    database, its partial text stays, and the wire text equals the saved text."""
    tab = new_user()
    answer = tab.ask("Tell me a long story that I will interrupt")
    conversation = tab.conversation_id()
    tab.wait_text_length(answer, 15)
    tab.page.click("#stop-button")
    tab.finish(answer, "stopped")

    saved = tab.assert_wire_matches_db(conversation, answer)
    assert saved["status"] == "stopped"
    assert saved["content"].startswith("You said:")
    assert "made offline" not in saved["content"], "the answer was not cut short"
    assert tab.text_length(answer) > 0
    expect(tab.message_text(answer)).to_contain_text("You said:")
    expect(tab.page.locator("#send-button")).to_be_visible()
    expect(tab.page.locator("#stop-button")).to_be_hidden()


def test_model_output_cannot_inject_html(new_user: NewUser) -> None:
    """An answer made of HTML and script runs nothing: no dialog, no <script> and no
    element with an onerror handler in #messages, and the page keeps working."""
    tab = new_user()
    dialogs: list[str] = []
    tab.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    payload = "<img src=x onerror=alert(1)><script>alert(2)</script> **bold**"
    answer = tab.ask(f"/echo {payload}")
    conversation = tab.conversation_id()
    tab.finish(answer)
    saved = tab.assert_wire_matches_db(conversation, answer)
    assert saved["content"] == payload

    tab.page.wait_for_timeout(300)  # a broken image's onerror would have fired by now
    assert dialogs == []
    assert tab.page.locator("#messages script").count() == 0
    assert tab.page.locator("#messages img[onerror]").count() == 0
    assert tab.page.locator("#messages [onerror]").count() == 0

    again = tab.ask("/echo still usable")
    tab.finish(again)
    assert tab.assert_wire_matches_db(conversation, again)["content"] == "still usable"
    assert dialogs == []


def test_chunking_modes_group_the_same_answer_differently(new_user: NewUser) -> None:
    """The same prompt answered in three new conversations, chunked per `line`,
    `sentence` and `token`: line chunks end with a newline (all but the last), and
    sentence chunks are more than line chunks and fewer than token chunks."""
    line_tab = new_user()
    sentence_tab, token_tab = line_tab.open_tab(), line_tab.open_tab()
    tabs = {"line": line_tab, "sentence": sentence_tab, "token": token_tab}
    prompt = "Show me how chunking works"
    indexes = {}
    for mode, tab in tabs.items():
        tab.choose_options(chunking=mode)
        indexes[mode] = tab.send(prompt)
    answers = {mode: tab.answer_id(indexes[mode]) for mode, tab in tabs.items()}

    chunks, contents = {}, {}
    for mode, tab in tabs.items():
        tab.finish(answers[mode])
        conversation = tab.conversation_id()
        contents[mode] = tab.assert_wire_matches_db(conversation, answers[mode])["content"]
        (socket,) = tab.frames.with_end(answers[mode])
        assert socket.history()["chunking"] == mode
        assert f"chunk={mode}" in socket.url
        chunks[mode] = [frame["text"] for frame in socket.chunks(answers[mode])]
    assert len(set(contents.values())) == 1, "same prompt, same demo answer"
    content = contents["line"]

    assert all(text.endswith("\n") for text in chunks["line"][:-1]), chunks["line"]
    assert not chunks["line"][-1].endswith("\n") or content.endswith("\n")
    assert len(chunks["line"]) == content.count("\n") + (not content.endswith("\n"))
    assert len(chunks["line"]) < len(chunks["sentence"]) < len(chunks["token"]), {
        mode: len(texts) for mode, texts in chunks.items()
    }
    # The last choice is remembered (localStorage) for the next page.
    expect(line_tab.open_tab().page.locator("#chunking-select")).to_have_value("token")


def test_answer_crosses_server_processes_through_redis(new_user: NewUser, server2: Server) -> None:
    """Tab A on server 1 asks; tab B of the same session on server 2 (another process,
    same database and Redis) sees the answer stream live, and tab C opening on server 2
    mid-answer catches up: all end with the database's text."""
    tab_a = new_user()
    conversation = tab_a.new_chat()
    tab_b = tab_a.open_tab(f"/c/{conversation}/", base_url=server2.url)
    socket_b = tab_b.wait_connected()
    assert f":{server2.port}/" in socket_b.url

    answer = tab_a.ask("Hello from the first server process")
    tab_b.wait_text_length(answer, 10)
    tab_c = tab_a.open_tab(f"/c/{conversation}/", base_url=server2.url)
    for tab in (tab_a, tab_b, tab_c):
        tab.finish(answer)

    lengths = tab_b.streaming_lengths(answer)
    assert grew_while_streaming(lengths), f"server 2 tab's lengths while streaming: {lengths}"
    saved = tab_a.assert_wire_matches_db(conversation, answer)
    assert saved["status"] == "complete"
    assert tab_b.assert_wire_matches_db(conversation, answer) == saved
    assert tab_c.assert_wire_matches_db(conversation, answer) == saved
    (socket_c,) = tab_c.frames.with_end(answer)
    assert f":{server2.port}/" in socket_c.url
    joined = [m for m in socket_c.history()["messages"] if m["id"] == answer]
    assert joined and joined[0]["status"] == "streaming", "tab C did not join mid-answer"
    expected_text = tab_a.message_text(answer).inner_text()
    assert tab_b.message_text(answer).inner_text() == expected_text
    assert tab_c.message_text(answer).inner_text() == expected_text


def test_failed_answer_and_too_long_message_show_readable_errors(new_user: NewUser) -> None:
    """`/fail` ends the answer with status `error` and its error shown once, in the
    answer's bubble (no banner too), and the next message still gets a complete answer;
    a message over the page's limit is refused in the page with a readable hint, and
    nothing is sent or saved."""
    tab = new_user()
    failed = tab.ask("/fail")
    conversation = tab.conversation_id()
    tab.finish(failed, "error")
    shown = tab.bubble(failed).locator(".message-error")
    expect(shown).to_be_visible()
    expect(shown).not_to_have_text("")
    saved = tab.assert_wire_matches_db(conversation, failed)
    assert saved["status"] == "error"
    errors = [f for f in tab.frames.all_received() if f["type"] == "error"]
    assert [e.get("message_id") for e in errors] == [failed], errors
    assert errors[0]["message"] and "Traceback" not in errors[0]["message"]
    expect(tab.page.locator(".error-notice")).to_have_count(0)
    page_text = tab.page.locator("#messages").inner_text()
    assert page_text.count(errors[0]["message"]) == 1, page_text

    recovered = tab.ask("/echo Still here after the failure.")
    tab.finish(recovered)
    saved = tab.assert_wire_matches_db(conversation, recovered)
    assert saved["content"] == "Still here after the failure."

    limit = tab.page.evaluate(
        "JSON.parse(document.getElementById('chat-config').textContent).max_message_chars"
    )
    saved_count = len(tab.conversation(conversation)["messages"])
    user_bubbles = tab.page.locator(USER).count()
    sent_count = len([f for f in tab.frames.all_sent() if f.get("type") == "user_message"])
    too_long = "x" * (limit + 1)
    tab.page.fill("#message-input", too_long)
    tab.page.press("#message-input", "Enter")
    hint = tab.page.locator("#composer-hint")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("limit")
    expect(hint).to_contain_text(f"{limit:,}")
    tab.page.wait_for_timeout(300)  # give a wrongly sent message the time to show up
    expect(tab.page.locator("#message-input")).to_have_value(too_long)
    expect(tab.page.locator(USER)).to_have_count(user_bubbles)
    assert len([f for f in tab.frames.all_sent() if f.get("type") == "user_message"]) == sent_count
    assert len(tab.conversation(conversation)["messages"]) == saved_count
    assert len([f for f in tab.frames.all_received() if f["type"] == "error"]) == 1
