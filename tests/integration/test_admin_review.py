"""What reviewers see in the admin (issue #22, item 9): a conversation's model,
temperature and instructions in its transcript and exports; per-user figures and
labelled axes in the usage overview, linked from the admin's index and sidebar."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import AuditEvent, Conversation, Message, UserQuota
from tests.integration.test_admin import CHANGELIST, _export, make_conversation

pytestmark = pytest.mark.django_db

STATS = f"{CHANGELIST}stats/"
# User text that is HTML, and a spreadsheet formula.
INSTRUCTIONS = '=cmd| answer in <b>French</b> & "briefly"\nsecond line'


def _configured(owner, title="Set up") -> Conversation:
    conversation, _ = make_conversation(owner, title)
    Conversation.objects.filter(pk=conversation.pk).update(
        model="demo-slow", temperature=0.3, instructions=INSTRUCTIONS
    )
    conversation.refresh_from_db()
    return conversation


def test_transcript_shows_model_temperature_and_instructions_escaped(staff, alice) -> None:
    """The reviewer reads the answers against what the model was told; the user's
    instructions are text, never HTML, and the view is audited."""
    conversation = _configured(alice)
    html = staff.get(f"{CHANGELIST}{conversation.pk}/change/").content.decode()
    assert re.search(r'class="[^"]*field-model_shown[^"]*".*?demo-slow', html, re.S)
    assert re.search(r'class="[^"]*field-temperature_shown[^"]*".*?0\.3', html, re.S)
    escaped = "=cmd| answer in &lt;b&gt;French&lt;/b&gt; &amp; &quot;briefly&quot;\nsecond line"
    assert f'<pre class="turn-text instructions">{escaped}</pre>' in html
    assert "<b>French</b>" not in html
    assert AuditEvent.objects.filter(action="view", conversation_id=conversation.pk).exists()
    # Defaults are said as such, not left blank.
    plain, _ = make_conversation(alice, "Plain")
    html = unescape(staff.get(f"{CHANGELIST}{plain.pk}/change/").content.decode())
    assert "the server's default model" in html and "the model's default" in html
    assert "none: only the operator's system prompt" in html


def test_json_export_has_each_conversations_settings(staff, alice) -> None:
    configured = _configured(alice)
    plain, _ = make_conversation(alice, "Plain")
    data = json.loads(_export(staff, "export_json", [configured.pk, plain.pk]))
    heads = {item["title"]: item for item in data}
    assert {key: heads["Set up"][key] for key in ("model", "temperature", "instructions")} == {
        "model": "demo-slow",
        "temperature": 0.3,
        "instructions": INSTRUCTIONS,
    }
    assert (heads["Plain"]["model"], heads["Plain"]["temperature"]) == ("", None)


def test_csv_export_has_each_conversations_settings_formula_safe(staff, alice) -> None:
    configured = _configured(alice)
    raw = _export(staff, "export_csv", [configured.pk])
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 2
    for row in rows:
        assert row["conversation_model"] == "demo-slow"
        assert float(row["temperature"]) == 0.3
        assert row["instructions"] == "'" + INSTRUCTIONS  # a spreadsheet shows it as text


def _users_with_messages(count: int, *, prefix: str) -> list:
    users = []
    for index in range(count):
        user = get_user_model().objects.create_user(f"{prefix}{index}")
        for turn in range(index + 1):  # user i: i+1 conversations of 30 tokens each
            make_conversation(user, f"{prefix}{index}-{turn}")
        users.append(user)
    return users


def test_usage_overview_has_per_user_figures(staff, alice) -> None:
    """Conversations, messages, answers and tokens per user in the period, and the
    tokens today's budget counted (UserQuota, the UTC day)."""
    make_conversation(alice, "one")
    make_conversation(alice, "two")
    old, _ = make_conversation(alice, "old")
    Message.objects.filter(conversation=old).update(created=timezone.now() - timedelta(days=60))
    bob = get_user_model().objects.create_user("bob<script>")
    make_conversation(bob, "bob's")
    UserQuota.objects.create(user=alice, day=timezone.now().date(), tokens_day=1234)
    UserQuota.objects.create(user=bob, day=timezone.now().date() - timedelta(days=1), tokens_day=9)
    page = staff.get(STATS)
    users = {row["username"]: row for row in page.context["overview"]["users"]}
    assert {key: users["alice"][key] for key in users["alice"] if key != "user_id"} == {
        "username": "alice",
        "conversations": 2,  # "old" is outside the 30 days
        "messages": 2,
        "answers": 2,
        "tokens": 60,
        "tokens_today": 1234,
    }
    assert (users["bob<script>"]["tokens"], users["bob<script>"]["tokens_today"]) == (30, 0)
    assert list(users) == ["alice", "bob<script>"]  # the most tokens first
    html = page.content.decode()
    table = html[html.index('class="usage-users"') :]
    assert "bob&lt;script&gt;" in table and "<script>" not in table
    assert re.search(r"alice</a></td><td>2</td><td>2</td><td>2</td><td>60</td><td>1234</td>", table)
    assert f"?owner__id__exact={alice.pk}" in table  # links to their conversations


def test_usage_overview_queries_do_not_grow_with_users(staff) -> None:
    """Aggregated in SQL: the same number of queries for 2 users as for 6."""
    _users_with_messages(2, prefix="few")
    staff.get(STATS)  # the session and permissions cached alike for both counts
    with CaptureQueriesContext(connection) as few:
        assert staff.get(STATS).status_code == 200
    _users_with_messages(4, prefix="more")
    with CaptureQueriesContext(connection) as more:
        page = staff.get(STATS)
    assert len(page.context["overview"]["users"]) == 6
    assert len(more) == len(few), [q["sql"][:120] for q in more.captured_queries]


def test_usage_chart_has_labelled_axes(staff, alice) -> None:
    """The chart says what its bars count and which day each is: axis titles, the
    counts on the y axis, dates on the x axis."""
    for index in range(3):
        make_conversation(alice, f"c{index}")  # 3 messages and 3 answers today
    html = staff.get(f"{STATS}?days=7").content.decode()
    svg = html[
        html.index('<svg class="usage-chart"') : html.index("</svg>", html.index("usage-chart"))
    ]
    titles = re.findall(r'<text class="axis-title"[^>]*>([^<]*)</text>', svg)
    assert titles[0] == "count per day" and titles[1].startswith("day (month-day")
    y_labels = re.findall(r'<g class="axis axis-y">.*?</g>', svg, re.S)[0]
    assert re.findall(r'class="tick-label"[^>]*>(\d+)</text>', y_labels) == ["0", "2", "5"]
    x_axis = re.findall(r'<g class="axis axis-x">.*?</g>', svg, re.S)[0]
    dates = re.findall(r'class="tick-label"[^>]*>([\d-]+)</text>', x_axis)
    today = timezone.localdate()
    assert dates == [f"{today - timedelta(days=6 - n):%m-%d}" for n in range(7)]
    # The answers bar of today reaches 3/5 of the plot's height, under the "5" tick.
    bar = re.findall(r'<rect class="bar-answers"[^>]*height="([\d.]+)"', svg)[-1]
    assert float(bar) == pytest.approx(150 * 3 / 5)


def test_usage_overview_is_linked_from_the_index_and_sidebar(staff) -> None:
    """A row of the chat app on the admin's index and in its navigation sidebar, not
    only a button on the conversation list."""
    link = re.compile(
        r'<tr class="model-usage-overview[^"]*">\s*<th scope="row" id="chat-usage-overview">'
        r'\s*<a href="/admin/chat/conversation/stats/"'
    )
    index = staff.get("/admin/").content.decode()
    assert link.search(index)
    sidebar = staff.get("/admin/chat/message/").content.decode()  # any page with the sidebar
    nav = sidebar[sidebar.index('id="nav-sidebar"') :]
    assert link.search(nav)
    stats = staff.get(STATS).content.decode()
    assert re.search(
        r'model-usage-overview current-model">\s*<th[^>]*>\s*<a [^>]*aria-current="page"', stats
    )


def test_usage_overview_link_only_for_staff_who_may_view_conversations() -> None:
    user = get_user_model().objects.create_user("tokens-only", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_apitoken"))
    client = Client()
    client.force_login(user)
    index = client.get("/admin/").content.decode()
    assert "API tokens" in index or "Api tokens" in index
    assert "chat-usage-overview" not in index
    user.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    client.force_login(get_user_model().objects.get(pk=user.pk))
    assert "chat-usage-overview" in client.get("/admin/").content.decode()
