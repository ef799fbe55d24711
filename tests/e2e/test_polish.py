"""The chat page's polish in a real Chromium: icons instead of emoji, the "writing"
indicator, code colouring, the status line, a follow-up queued while an answer streams,
the sidebar's date groups, in-page rename and delete dialogs with undo, and a way
forward from a conversation that does not exist. Few tests, several checks each: every
page session costs CI time."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import ASSISTANT, USER, ChatTab, pump, wait_for_chat_page
from tests.e2e.servers import manage

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]

# Any emoji-like character (what shows as an empty box without an emoji font), in the
# text or in the attributes a screen reader or a tooltip shows.
NO_EMOJI_JS = r"""() => {
  const re = /\p{Extended_Pictographic}/u;
  const texts = [document.body.innerText];
  for (const node of document.querySelectorAll('[aria-label], [title]')) {
    texts.push(node.getAttribute('aria-label') || '', node.getAttribute('title') || '');
  }
  return texts.filter((t) => re.test(t));
}"""

CREATE_JS = """async (title) => {
  const token = document.querySelector('input[name="csrfmiddlewaretoken"]').value;
  const res = await fetch('/api/conversations/', {method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': token},
    body: JSON.stringify({title})});
  return (await res.json()).id;
}"""

STATUS_JS = """async (id) => (await fetch(`/api/conversations/${id}/`,
  {headers: {Accept: 'application/json'}, credentials: 'same-origin'})).status"""

SET_UPDATED = """
from datetime import timedelta
from django.utils import timezone
from chat.models import Conversation, Message
now = timezone.now()
for pk in ("{today}", "{recent}", "{old}"):  # the list shows conversations with a message
    Message.objects.create(conversation_id=pk, role="user", content="Hello")
Conversation.objects.filter(pk="{recent}").update(updated=now - timedelta(days=3))
Conversation.objects.filter(pk="{old}").update(updated=now - timedelta(days=40))
"""


def test_answers_show_writing_colour_code_and_queue_a_follow_up(new_user: NewUser) -> None:
    """Nothing alarming before a chat starts; in sentence mode the bubble shows "writing"
    until the first chunk; a code block gets highlight.js classes; the thumbs are SVG
    icons (no emoji anywhere); a follow-up sent while the answer streams is queued, one
    can be cancelled, the other goes by itself when the answer ends, and both answers
    are saved with no `busy` refusal."""
    tab = new_user()
    page = tab.page
    expect(page.locator("#connection-status")).to_be_hidden()
    assert "Not connected" not in page.locator("body").inner_text()

    tab.choose_options(chunking="sentence")
    first_sentence = " ".join(f"word{i}" for i in range(50)) + ". "
    code = "```python\ndef double(x):\n    return 2 * x\n```"
    tail = " ".join(f"tail{i}" for i in range(120))  # time to queue while it streams
    answer = tab.ask(f"/echo {first_sentence}Then code:\n\n{code}\n\n{tail}.")
    conversation = tab.conversation_id()
    bubble = tab.bubble(answer)
    expect(bubble.locator(".writing-indicator")).to_be_visible()
    assert not tab.frames.sockets[-1].chunks(answer), "the first sentence came too soon"
    assert tab.text_length(answer) == 0, "the indicator must not be part of the text"
    pump(page, lambda: tab.frames.sockets[-1].chunks(answer), "the first chunk")
    expect(bubble.locator(".writing-indicator")).to_have_count(0)
    expect(tab.message_text(answer)).to_contain_text("word0")

    # A follow-up typed while the answer streams waits, shown as queued.
    follow_up = "/echo The queued follow-up"
    tab.send(follow_up)
    queued = page.locator(f'{USER}[data-status="queued"]')
    expect(queued).to_have_count(1)
    expect(queued).to_contain_text("The queued follow-up")
    page.fill("#message-input", "/echo never sent")
    page.press("#message-input", "Enter")
    expect(queued).to_have_count(2)
    queued.nth(1).locator(".cancel-queued").click()
    expect(queued).to_have_count(1)
    expect(page.locator("#message-input")).to_have_value("/echo never sent")
    page.fill("#message-input", "")
    # A code block whose closing fence arrived is coloured while the answer still streams.
    code_el = tab.message_text(answer).locator("pre code")
    expect(code_el).to_have_class(re.compile(r"\bhljs\b"))
    assert bubble.get_attribute("data-status") == "streaming", "the answer ended too soon"

    tab.finish(answer)
    second = tab.answer_id(1)  # the queued message was sent when the first answer ended
    tab.finish(second)
    saved = tab.conversation(conversation)["messages"]
    assert [(m["role"], m["status"]) for m in saved] == [
        ("user", "complete"),
        ("assistant", "complete"),
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert saved[2]["content"] == follow_up and saved[3]["content"] == "The queued follow-up"
    assert "never sent" not in str(saved)
    assert not [f for f in tab.frames.all_received() if f["type"] == "error"]
    sent = [f["content"] for f in tab.frames.all_sent() if f.get("type") == "user_message"]
    assert len(sent) == 2 and sent[1] == follow_up, sent
    expect(page.locator(USER)).to_have_count(2)
    expect(page.locator(ASSISTANT)).to_have_count(2)
    tab.assert_wire_matches_db(conversation, second)

    # The code block is coloured; its text is unchanged.
    expect(code_el).to_have_class(re.compile(r"\bhljs\b"))
    expect(code_el.locator(".hljs-keyword").first).to_have_text("def")
    assert code_el.text_content() == "def double(x):\n    return 2 * x\n"

    # Thumbs are SVG icons with labels; the pressed one shows it.
    up = bubble.locator(".feedback-up")
    expect(up.locator("svg")).to_have_count(1)
    expect(up).to_have_attribute("aria-label", "Good answer")
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    assert page.evaluate(NO_EMOJI_JS) == []
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "connected")


def test_sidebar_groups_dialogs_delete_undo_and_a_missing_conversation(
    new_user: NewUser, server_env: dict
) -> None:
    """The list is grouped by day; rename goes through an in-page dialog (Escape
    cancels); a delete can be undone, and one not undone reaches the server (when the
    next delete replaces its toast, and when the page is left); a conversation that does
    not exist says so and offers a new chat."""
    tab = new_user()
    page = tab.page
    today, recent, old = (page.evaluate(CREATE_JS, t) for t in ("Today's", "Recent", "Old one"))
    manage(server_env, "shell", "-c", SET_UPDATED.format(today=today, recent=recent, old=old))
    page.reload()
    wait_for_chat_page(page)
    groups = page.locator("#conversation-list .conversation-group-title")
    expect(groups).to_have_text(["Today", "Previous 7 days", "Older"])

    def item(cid: str):
        return page.locator(f'#conversation-list .conversation-item[data-id="{cid}"]')

    expect(item(recent)).to_have_count(1)

    dialog = page.locator("#app-dialog")
    item(today).locator(".conversation-rename").click()
    expect(dialog).to_be_visible()
    dialog.locator("input").fill("Renamed here")
    dialog.locator("input").press("Escape")
    expect(dialog).to_be_hidden()
    expect(item(today)).to_contain_text("Today's")
    item(today).locator(".conversation-rename").click()
    dialog.locator("input").fill("Renamed here")
    dialog.locator("input").press("Enter")
    expect(item(today)).to_contain_text("Renamed here")
    assert tab.conversation(today)["title"] == "Renamed here"

    # Delete, then undo: back in the list, never deleted on the server.
    item(recent).locator(".conversation-delete").click()
    expect(dialog).to_be_visible()
    dialog.locator(".app-dialog-ok").click()
    expect(item(recent)).to_have_count(0)
    toast = page.locator("#toast-region .toast")
    expect(toast).to_contain_text("Deleted")
    toast.locator(".toast-action").click()
    expect(item(recent)).to_have_count(1)
    expect(toast).to_have_count(0)
    assert page.evaluate(STATUS_JS, recent) == 200

    # Delete it again and then another: the first one's undo ends, so it is deleted.
    for cid in (recent, old):
        item(cid).locator(".conversation-delete").click()
        dialog.locator(".app-dialog-ok").click()
        expect(item(cid)).to_have_count(0)
    pump(page, lambda: page.evaluate(STATUS_JS, recent) == 404, "the first DELETE")
    assert page.evaluate(STATUS_JS, old) == 200, "still undoable"

    # Leaving the page sends the pending delete; the next page is a missing conversation.
    page.goto(f"{tab.base_url}/c/{uuid.uuid4()}/")
    wait_for_chat_page(page)
    gone = page.locator("#messages .gone-state")
    expect(gone).to_contain_text("This conversation no longer exists")
    expect(page.locator("#connection-status")).to_be_hidden()
    pump(page, lambda: page.evaluate(STATUS_JS, old) == 404, "the DELETE sent on pagehide")
    expect(page.locator("#conversation-list .conversation-item")).to_have_count(1)
    gone.locator(".gone-new-chat").click()
    page.wait_for_url(f"{tab.base_url}/")
    expect(page.locator("#conversation-title")).to_have_text("New chat")
    tab.finish(tab.ask("/echo a new one"))
    assert tab.conversation_id() not in (today, recent, old)
    expect(page.locator("#conversation-list .conversation-item")).to_have_count(2)
