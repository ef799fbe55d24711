"""Conversation review in the Django admin, through the test client and the real database."""

from __future__ import annotations

import csv
import gc
import io
import json
import re
import tracemalloc
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from chat.conversations.serializers import message_to_dict
from chat.models import AuditEvent, Conversation, Feedback, Message

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/chat/conversation/"
# Pictographs, dingbats and the emoji presentation selector: what a machine without an
# emoji font shows as empty boxes.
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f]")
JAPANESE = 'こんにちは。「引用」と、改行\nそして"引用符", カンマ'


def make_conversation(owner, title="Trip", *, model="demo-offline", status="complete", ttft=120):
    conversation = Conversation.objects.create(owner=owner, title=title)
    question = Message.objects.create(
        conversation=conversation, role="user", content=f"{title}: {JAPANESE}"
    )
    answer = Message.objects.create(
        conversation=conversation,
        parent=question,
        role="assistant",
        content=f"Answer to {title}\n{JAPANESE}",
        status=status,
        model_name=model,
        ttft_ms=ttft,
        duration_ms=900,
        input_tokens=10,
        output_tokens=20,
        total_tokens=30,
        error="The model failed to answer." if status == "error" else "",
    )
    return conversation, answer


@pytest.fixture
def reviewer():
    """Staff with view rights only: reads and exports, cannot change review state."""
    user = get_user_model().objects.create_user("viewer", password="pw-view-123", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_conversation"),
        Permission.objects.get(codename="view_message"),
    )
    client = Client()
    client.force_login(user)
    return client


def test_changelist_shows_counts_model_status_and_feedback(staff, alice) -> None:
    _conversation, answer = make_conversation(alice, "Kyoto", status="error", model="gpt-x")
    Feedback.objects.create(message=answer, rating=-1, comment="wrong")
    page = staff.get(CHANGELIST)
    assert page.status_code == 200
    row = page.context["cl"].result_list[0]
    assert (row.message_count, row.last_status, row.last_model) == (2, "error", "gpt-x")
    assert (row.thumbs_up, row.thumbs_down) == (0, 1)
    html = page.content.decode()
    assert "Kyoto" in html
    assert re.search(r'aria-label="thumbs down".*?</svg> 1</span>', html)
    assert 'aria-label="thumbs up"' not in html  # no thumbs up: no icon for it


def _cells(html: str, column: str) -> list[str]:
    return re.findall(rf'<td class="field-{column}[^"]*">(.*?)</td>', html, re.S)


def test_changelist_shows_each_conversations_review_state(staff, alice) -> None:
    flagged, _ = make_conversation(alice, "Flagged one")
    Conversation.objects.filter(pk=flagged.pk).update(review_state="flagged")
    make_conversation(alice, "Fresh one")
    html = staff.get(CHANGELIST).content.decode()
    assert sorted(_cells(html, "review_state")) == ["Flagged", "Unreviewed"]
    assert "column-review_state" in html  # its header, sortable
    # The stylesheet that fits every column into a 1400 px window (tests/e2e checks it).
    assert "chatadmin/review.css" in html


@pytest.mark.parametrize("page", ["changelist", "transcript", "stats"])
def test_feedback_is_drawn_with_icons_not_emoji(staff, alice, page: str) -> None:
    """Thumbs are inline SVG with a text alternative: nothing that needs an emoji font."""
    conversation, answer = make_conversation(alice, "Rated")
    Feedback.objects.create(message=answer, rating=1)
    _, other = make_conversation(alice, "Disliked")
    Feedback.objects.create(message=other, rating=-1)
    url = {
        "changelist": CHANGELIST,
        "transcript": f"{CHANGELIST}{conversation.pk}/change/",
        "stats": f"{CHANGELIST}stats/",
    }[page]
    html = staff.get(url).content.decode()
    assert not EMOJI.findall(html)
    icon = r'<svg class="icon thumb thumb-up"[^>]*role="img" aria-label="thumbs up"'
    assert re.search(icon, html)
    assert "<title>thumbs up</title>" in html
    if page == "changelist":
        feedback = _cells(html, "feedback")
        assert len(feedback) == 2 and all("<svg" in cell for cell in feedback)
        assert not any(EMOJI.search(cell) for cell in feedback)


@pytest.mark.parametrize("url", ["/admin/login/", CHANGELIST, "/accounts/login/"])
def test_pages_link_the_site_icon(staff, url: str) -> None:
    html = staff.get(url, follow=True).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html


def test_favicon_ico_leads_to_the_icon(client, settings) -> None:
    """Browsers and tools ask for /favicon.ico whatever the page links: never a 404."""
    settings.WHITENOISE_USE_FINDERS = True  # serve /static/ from the source tree, as DEBUG does
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response.url == "/static/favicon.svg"
    icon = client.get(response.url)
    assert icon.status_code == 200
    assert icon["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(icon.streaming_content)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("review_state__exact=flagged", {"Flagged"}),
        ("model=gpt-x", {"Modelled"}),
        ("last_status=error", {"Broken"}),
        ("feedback=down", {"Disliked"}),
        ("feedback=up", set()),
        ("q=改行", {"Flagged", "Modelled", "Broken", "Disliked", "Plain"}),
        ("q=Answer+to+Broken", {"Broken"}),
        ("q=alice", {"Flagged", "Modelled", "Broken", "Disliked", "Plain"}),
    ],
)
def test_filters_and_search(staff, alice, query: str, expected: set[str]) -> None:
    flagged, _ = make_conversation(alice, "Flagged")
    Conversation.objects.filter(pk=flagged.pk).update(review_state="flagged")
    make_conversation(alice, "Modelled", model="gpt-x")
    make_conversation(alice, "Broken", status="error")
    _, disliked = make_conversation(alice, "Disliked")
    Feedback.objects.create(message=disliked, rating=-1)
    make_conversation(alice, "Plain")
    page = staff.get(f"{CHANGELIST}?{query}")
    assert page.status_code == 200
    assert {c.title for c in page.context["cl"].result_list} == expected


def test_owner_and_date_filters_render(staff, alice) -> None:
    make_conversation(alice)
    assert staff.get(f"{CHANGELIST}?owner__id__exact={alice.pk}").status_code == 200
    today = timezone.now()
    page = staff.get(f"{CHANGELIST}?created__year={today.year}&created__month={today.month}")
    assert len(page.context["cl"].result_list) == 1


def test_changelist_queries_do_not_grow_with_conversations(
    staff,
    alice,
    django_assert_max_num_queries,
) -> None:
    """No N+1: 3 or 40 conversations cost the same number of queries."""
    for i in range(3):
        make_conversation(alice, f"c{i}")
    with django_assert_max_num_queries(12) as few:
        staff.get(CHANGELIST)
    for i in range(37):
        make_conversation(alice, f"more{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = staff.get(CHANGELIST)
    assert len(page.context["cl"].result_list) == 40


def test_transcript_shows_the_current_path_and_marks_the_other_versions(staff, alice) -> None:
    """A regenerated answer and an edited question: the page shows the path the user
    sees in order, says which version each message is, and lists the others (with the
    branch that follows them) apart, so staff read every message."""
    conversation, first_answer = make_conversation(alice, "Tree")
    question = first_answer.parent
    second_answer = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content="Second try"
    )
    follow_up = Message.objects.create(
        conversation=conversation, parent=first_answer, role="user", content="Old follow-up"
    )
    Conversation.objects.filter(pk=conversation.pk).update(leaf=second_answer)
    html = staff.get(f"{CHANGELIST}{conversation.pk}/change/").content.decode()
    path_part, _, _ = html.partition('class="turn-alternatives"')
    assert "Tree: こんにちは" in path_part and "Second try" in path_part
    assert "version 2 of 2" in path_part
    alternatives = html[html.index('class="turn-alternatives"') :]
    assert alternatives.index("Answer to Tree") < alternatives.index(follow_up.content)
    assert f'id="message-{follow_up.pk}" data-id="{follow_up.pk}" data-offpath="1"' in html


def test_transcript_marks_assistant_turns_an_api_client_supplied(staff, alice) -> None:
    """A /v1 client's history may hold `assistant` turns it wrote itself: the transcript
    says so, and gives them no status or model, so no one takes them for the model's."""
    conversation = Conversation.objects.create(owner=alice, title="Imported")
    turns = [("user", "Hi", False), ("assistant", "I am the model, honest.", True)]
    turns += [("user", "Really?", False), ("assistant", "The real answer.", False)]
    parent = None
    for role, content, supplied in turns:
        parent = Message.objects.create(
            conversation=conversation,
            parent=parent,
            role=role,
            content=content,
            supplied_by_client=supplied,
            model_name="" if supplied or role == "user" else "stub-model",
        )
    page = staff.get(f"{CHANGELIST}{conversation.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    heads = re.findall(r'<div class="turn-head">(.*?)</div>', html, re.S)
    assert len(heads) == 4
    assert "supplied by the client" in heads[1] and "badge-complete" not in heads[1]
    assert "supplied by the client" not in heads[3] and "model stub-model" in heads[3]


def test_transcript_page_is_complete_readable_and_audited(staff, alice) -> None:
    conversation, answer = make_conversation(alice, "Readable", status="error")
    Feedback.objects.create(message=answer, rating=1, comment="thanks")
    page = staff.get(f"{CHANGELIST}{conversation.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert html.index("Readable: こんにちは") < html.index("Answer to Readable")
    for text in (
        "first token 120 ms",
        "duration 900 ms",
        "tokens 10 in / 20 out",
        "The model failed to answer.",
        "thumbs up",
        "thanks",
        'id="live-tail"',
        "chatadmin/tail.js",
    ):
        assert text in html
    event = AuditEvent.objects.get()
    assert (event.actor_name, event.action, event.conversation_id) == (
        "root",
        "view",
        conversation.pk,
    )


def test_content_cannot_be_changed_through_the_admin(staff, alice) -> None:
    """Only review fields save; title and messages stay as the user and model left them."""
    conversation, answer = make_conversation(alice, "Original")
    response = staff.post(
        f"{CHANGELIST}{conversation.pk}/change/",
        {
            "title": "Tampered",
            "review_state": "flagged",
            "staff_note": "check this",
            "content": "tampered",
            "owner": "1",
        },
    )
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "Original"
    assert (conversation.review_state, conversation.staff_note) == ("flagged", "check this")
    assert conversation.reviewed_by.username == "root" and conversation.reviewed_at
    response = staff.post(f"/admin/chat/message/{answer.pk}/change/", {"content": "tampered"})
    assert response.status_code == 403
    answer.refresh_from_db()
    assert answer.content == f"Answer to Original\n{JAPANESE}"
    assert staff.get("/admin/chat/message/add/").status_code == 403
    assert (
        staff.post(f"/admin/chat/message/{answer.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert Message.objects.filter(pk=answer.pk).exists()


def test_bulk_review_actions_record_who_and_when(staff, alice) -> None:
    first, _ = make_conversation(alice, "one")
    second, _ = make_conversation(alice, "two")
    response = staff.post(
        CHANGELIST, {"action": "mark_flagged", "_selected_action": [first.pk, second.pk]}
    )
    assert response.status_code == 302
    flagged = Conversation.objects.filter(review_state="flagged")
    assert flagged.count() == 2 and all(c.reviewed_by.username == "root" for c in flagged)
    assert AuditEvent.objects.filter(action="review").count() == 2


def _export(client, action: str, ids: list) -> bytes:
    response = client.post(CHANGELIST, {"action": action, "_selected_action": ids})
    assert response.status_code == 200 and response.streaming and response.is_async
    return b"".join(async_to_sync(_read)(response))


async def _read(response) -> list[bytes]:
    return [piece async for piece in response.streaming_content]


def test_json_export_round_trips_the_transcript(staff, alice) -> None:
    conversation, answer = make_conversation(alice, "日本語の旅")
    Feedback.objects.create(message=answer, rating=-1, comment="違う")
    data = json.loads(_export(staff, "export_json", [conversation.pk]))
    assert len(data) == 1 and data[0]["title"] == "日本語の旅" and data[0]["owner"] == "alice"
    saved = list(conversation.messages.order_by("created"))
    assert [m["content"] for m in data[0]["messages"]] == [m.content for m in saved]
    assert [m["id"] for m in data[0]["messages"]] == [str(m.pk) for m in saved]
    # The one shape of a message, and whether an API client supplied it.
    exported = {**message_to_dict(saved[0]), "supplied_by_client": False}
    assert data[0]["messages"][0] == exported
    assert data[0]["messages"][1]["feedback"] == {"rating": "down", "comment": "違う"}
    assert data[0]["messages"][1]["usage"] == {
        "input_tokens": 10,
        "output_tokens": 20,
        "total_tokens": 30,
    }
    assert AuditEvent.objects.filter(action="export_json", conversation_id=conversation.pk).exists()


def test_csv_export_has_one_row_per_message_and_round_trips(staff, alice) -> None:
    first, _ = make_conversation(alice, "first")
    second, _ = make_conversation(alice, "second")
    raw = _export(staff, "export_csv", [first.pk, second.pk])
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    expected = Message.objects.order_by("conversation__created", "created")
    assert [r["content"] for r in rows] == [m.content for m in expected]
    assert [r["message_id"] for r in rows] == [str(m.pk) for m in expected]
    assert {r["owner"] for r in rows} == {"alice"}
    assert AuditEvent.objects.filter(action="export_csv").count() == 2


def test_usage_overview_counts_and_percentiles(staff, alice) -> None:
    for index, ttft in enumerate([100, 200, 300, 400, 1000]):
        make_conversation(
            alice,
            f"s{index}",
            ttft=ttft,
            status="error" if index == 4 else "complete",
            model="m-a" if index < 3 else "m-b",
        )
    old, _ = make_conversation(alice, "old")
    Message.objects.filter(conversation=old).update(created=timezone.now() - timedelta(days=60))
    page = staff.get(f"{CHANGELIST}stats/")
    assert page.status_code == 200
    overview = page.context["overview"]
    assert overview["totals"] == {"messages": 5, "answers": 5, "errors": 1}
    assert (overview["ttft_median"], overview["ttft_p95"]) == (300, 1000)
    assert {m["model_name"]: m["total_tokens"] for m in overview["models"]} == {
        "m-a": 90,
        "m-b": 60,
    }
    html = page.content.decode()
    assert "<svg" in html and 'class="bar-answers"' in html and "300 ms" in html
    # Charts from this site's own files, no CDN (a bare "cdn" matched CSRF tokens).
    assets = re.findall(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="([^"]*)"', html)
    assert assets and all(url.startswith("/") and not url.startswith("//") for url in assets)


def test_non_staff_get_the_login_page(client, alice) -> None:
    client.force_login(alice)
    for url in (CHANGELIST, f"{CHANGELIST}stats/", "/admin/chat/auditevent/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response.url


def test_view_only_reviewer_reads_and_exports_but_cannot_change(reviewer, alice) -> None:
    conversation, _ = make_conversation(alice, "Viewable")
    assert reviewer.get(CHANGELIST).status_code == 200
    assert reviewer.get(f"{CHANGELIST}{conversation.pk}/change/").status_code == 200
    assert reviewer.get(f"{CHANGELIST}stats/").status_code == 200
    actions = reviewer.get(CHANGELIST).context["action_form"].fields["action"].choices
    names = {name for name, _ in actions}
    assert {"export_json", "export_csv"} <= names and "mark_flagged" not in names
    response = reviewer.post(f"{CHANGELIST}{conversation.pk}/change/", {"review_state": "flagged"})
    assert response.status_code == 403
    assert Conversation.objects.get(pk=conversation.pk).review_state == "unreviewed"
    assert reviewer.get("/admin/chat/auditevent/").status_code == 403
    assert json.loads(_export(reviewer, "export_json", [conversation.pk]))[0]["title"] == "Viewable"


def test_audit_log_is_for_superusers_and_read_only(staff, alice) -> None:
    conversation, _ = make_conversation(alice)
    staff.get(f"{CHANGELIST}{conversation.pk}/change/")
    page = staff.get("/admin/chat/auditevent/")
    assert page.status_code == 200 and "root" in page.content.decode()
    event = AuditEvent.objects.get()
    assert (
        staff.post(f"/admin/chat/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    )


# --- Large exports stream ---------------------------------------------------------

# Fewer, longer rows than a real export has: the bytes bound the memory claim, and
# each row costs the test time (twice under tracemalloc).
BULK_MESSAGES = 8_000
FORMULA = '=HYPERLINK("http://evil.example","click")'


def _bulk(owner, conversations: int = 20, per_conversation: int = BULK_MESSAGES // 20) -> list:
    """Conversations with many single-line messages (about 1,200 characters each), and
    one known formula message in the middle."""
    items = Conversation.objects.bulk_create(
        Conversation(owner=owner, title=f"bulk {i:02d}") for i in range(conversations)
    )
    Message.objects.bulk_create(
        (
            Message(
                conversation=conversation,
                role="user" if n % 2 == 0 else "assistant",
                content=FORMULA if (c, n) == (10, 7) else f"message {c}-{n} " + "ab " * 400,
                status="complete",
            )
            for c, conversation in enumerate(items)
            for n in range(per_conversation)
        ),
        batch_size=2000,
    )
    return [c.pk for c in items]


async def _consume_csv(response) -> dict:
    """Reads the streamed CSV piece by piece, parsing each complete line (the bulk
    messages are single-line), keeping counts and the formula row only."""
    seen = {"rows": 0, "bytes": 0, "formula": None, "header": None}
    tail = b""
    async for piece in response.streaming_content:
        seen["bytes"] += len(piece)
        *lines, tail = (tail + piece).split(b"\r\n")
        for line in lines:
            row = next(csv.reader([line.decode("utf-8-sig")]))
            if seen["header"] is None:
                seen["header"] = row
                continue
            seen["rows"] += 1
            if "HYPERLINK" in row[-1]:
                seen["formula"] = row
    assert tail == b""
    return seen


async def _consume(response) -> int:
    size = 0
    async for piece in response.streaming_content:
        size += len(piece)
    return size


def _peak_while(consume, response) -> tuple[object, int]:
    """Runs the consuming loop under tracemalloc: (its result, peak bytes allocated)."""
    gc.collect()
    tracemalloc.start()
    try:
        result = async_to_sync(consume)(response)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_a_large_csv_export_streams_in_bounded_memory(staff, alice) -> None:
    ids = _bulk(alice)
    response = staff.post(CHANGELIST, {"action": "export_csv", "_selected_action": ids})
    assert response.status_code == 200
    assert response.streaming and response.is_async  # an async iterator, no thread drains it
    seen, peak = _peak_while(_consume_csv, response)
    print(f"csv export: {seen['bytes']:,} bytes streamed, peak {peak:,} bytes traced")
    assert seen["rows"] == BULK_MESSAGES
    assert seen["header"][0] == "conversation_id" and len(seen["header"]) == 22
    formula = dict(zip(seen["header"], seen["formula"], strict=True))
    assert formula["content"] == "'" + FORMULA and formula["conversation_title"] == "bulk 10"
    assert seen["bytes"] > 10_000_000
    assert peak < 6_000_000


def test_a_large_json_export_streams_in_bounded_memory(staff, alice) -> None:
    ids = _bulk(alice)
    empty = Conversation.objects.create(owner=alice, title="no messages yet")
    selection = {"action": "export_json", "_selected_action": [*ids, empty.pk]}
    response = staff.post(CHANGELIST, selection)
    assert response.streaming and response.is_async
    size, peak = _peak_while(_consume, response)
    print(f"json export: {size:,} bytes streamed, peak {peak:,} bytes traced")
    assert size > 10_000_000
    assert peak < 6_000_000
    # The same export again, read whole (not measured) to check what it holds.
    data = json.loads(_export(staff, "export_json", selection["_selected_action"]))
    assert [c["title"] for c in data] == [*(f"bulk {i:02d}" for i in range(20)), "no messages yet"]
    assert sum(len(c["messages"]) for c in data) == BULK_MESSAGES
    assert data[10]["messages"][7]["content"] == FORMULA  # JSON is data: nothing to neutralise
    assert data[-1]["messages"] == []
