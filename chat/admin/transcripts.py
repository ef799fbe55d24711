"""Staff review: transcript exports and the usage overview (reads only).

Reads for the admin live here so that admin.py stays declarative; what staff write
(review state, notes, audit records) is in services.py. Exports are async iterators
read in chunks: a large selection streams out without being held in memory. A
message's fields in an export are `serializers.message_to_dict`'s, the same as the
API's and the socket's, and `supplied_by_client` (an `assistant` turn an API client
sent, not the model's).
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import date, datetime, time, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_noop

from chat.conversations import selectors
from chat.conversations.serializers import message_to_dict
from chat.conversations.streams import in_pieces, rows_in_chunks
from chat.models import Conversation, Feedback, Message, UserQuota

# --- Exports ----------------------------------------------------------------------
# Exports are async iterators, for StreamingHttpResponse (chat/conversations/streams.py):
# whatever the selection, an export holds one chunk of rows and one piece of text.

CSV_COLUMNS = [
    "conversation_id", "conversation_title", "owner", "review_state", "conversation_model",
    "temperature", "instructions", "message_id", "created",
    "role", "status", "model", "ttft_ms", "duration_ms", "input_tokens", "output_tokens",
    "total_tokens", "error", "feedback_rating", "feedback_comment", "supplied_by_client",
    "content",
]  # fmt: skip


# The selected conversations' messages in export order: oldest conversation first,
# then each conversation's messages oldest first (ids break ties).
# The answer states the transcript's badges show (templates/admin/chat/conversation/
# change_form.html: `{% translate m.status %}`), marked for the catalogue.
STATUS_WORDS = (
    gettext_noop("streaming"),
    gettext_noop("complete"),
    gettext_noop("stopped"),
    gettext_noop("error"),
)
MESSAGE_ORDER = ("conversation__created", "conversation_id", "created", "id")


def export_json(conversation_ids: list[Any]) -> AsyncIterator[str]:
    """A JSON array of conversations with their transcripts, oldest first, streamed."""
    return in_pieces(_json_texts(conversation_ids))


async def _json_texts(conversation_ids: list[Any]) -> AsyncIterator[str]:
    # Two cursors in the same order, merged: each conversation, then its messages
    # (none for a conversation without any), so no conversation is held whole.
    conversations = (
        Conversation.objects.filter(pk__in=conversation_ids)
        .select_related("owner")
        .order_by("created", "id")
    )
    messages = rows_in_chunks(
        Message.objects.filter(conversation_id__in=conversation_ids)
        .select_related("feedback")
        .order_by(*MESSAGE_ORDER)
    )
    with_files = await sync_to_async(selectors.conversations_with_files)(conversations)
    async with aclosing(messages), aclosing(rows_in_chunks(conversations)) as heads:
        pending = await anext(messages, None)
        yield "["
        index = 0
        async for conversation in heads:
            head = {
                "id": str(conversation.pk),
                "title": conversation.title,
                "owner": conversation.owner.get_username(),
                "created": conversation.created.isoformat(),
                "review_state": conversation.review_state,
                "staff_note": conversation.staff_note,
                **conversation_settings(conversation),
            }
            # The same object as json.dumps({**head, "messages": [...]}), written in parts.
            yield ("," if index else "") + "\n" + json.dumps(head, ensure_ascii=False)[:-1]
            yield ', "messages": ['
            first = True
            files = {}
            if conversation.pk in with_files:
                read = sync_to_async(selectors.files_by_message)
                files = await read(conversation_id=conversation.pk)
            while pending is not None and pending.conversation_id == conversation.pk:
                pending.files = files.get(pending.pk, [])
                yield ("" if first else ", ") + json.dumps(_exported(pending), ensure_ascii=False)
                first = False
                pending = await anext(messages, None)
            yield "]}"
            index += 1
        yield "\n]\n"


def conversation_settings(conversation: Conversation) -> dict[str, Any]:
    """What the model was told: the conversation's model, temperature and instructions
    (blank model, null temperature: the defaults)."""
    return {
        "model": conversation.model,
        "temperature": conversation.temperature,
        "instructions": conversation.instructions,
    }


def _exported(message: Message) -> dict[str, Any]:
    """A message as exports give it: its `message_to_dict` fields, and whether an API
    client supplied it (an `assistant` turn the model did not write)."""
    return {**message_to_dict(message), "supplied_by_client": message.supplied_by_client}


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"): text cells that do get a leading apostrophe, which shows as text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A cell a spreadsheet shows as written: text starting with = + - @ tab or CR gets
    a leading `'`. Numbers (the timing and token columns) are data, not text, and stay
    as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_writer() -> Any:
    """Rows as strings, every text cell quoted (numbers are not): a cell can never
    spill into the next one, whatever reads the file."""
    return csv.writer(_Echo(), quoting=csv.QUOTE_NONNUMERIC)


def export_csv(conversation_ids: list[Any]) -> AsyncIterator[str]:
    """One CSV row per message, oldest conversation first; UTF-8 with a BOM for Excel."""
    return in_pieces(_csv_texts(conversation_ids))


async def _csv_texts(conversation_ids: list[Any]) -> AsyncIterator[str]:
    writer = csv_writer()
    yield "\ufeff" + writer.writerow(CSV_COLUMNS)
    messages = (
        Message.objects.filter(conversation_id__in=conversation_ids)
        .select_related("conversation__owner", "feedback")
        .order_by(*MESSAGE_ORDER)
    )
    async with aclosing(rows_in_chunks(messages)) as rows:
        async for message in rows:
            yield writer.writerow(csv_row(message))


def csv_row(message: Message) -> list[Any]:
    """A message's export row: its `message_to_dict` fields, flattened (usage and
    feedback), after its conversation's; text cells made safe (`csv_safe`)."""
    data = _exported(message)
    conversation = message.conversation
    usage = data["usage"] or {}
    feedback = data["feedback"] or {}
    row = {
        **data,
        **{key: usage.get(key) for key in ("input_tokens", "output_tokens", "total_tokens")},
        "feedback_rating": feedback.get("rating", ""),
        "feedback_comment": feedback.get("comment", ""),
        "message_id": data["id"],
        "conversation_id": conversation.pk,
        "conversation_title": conversation.title,
        "owner": conversation.owner.get_username(),
        "review_state": conversation.review_state,
        "conversation_model": conversation.model,
        "temperature": conversation.temperature,
        "instructions": conversation.instructions,
    }
    return [csv_safe(row[column]) for column in CSV_COLUMNS]


# --- Usage overview -----------------------------------------------------------------


# The chart's frame, in SVG units (the SVG scales as a whole, text included): the bars
# in a plot area, the counts on the left axis, the days below.
CHART_WIDTH, CHART_HEIGHT = 900, 210
PLOT_LEFT, PLOT_TOP, PLOT_RIGHT, PLOT_BOTTOM = 56, 10, 890, 160
X_LABELS = 8  # at most this many dates under the bars


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (≥ 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if factor * step >= value:
                return factor * step
        step *= 10


def chart_bars(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SVG bar geometry in the plot area, scaled to the y axis' top (`nice_ceiling` of
    the busiest day): no chart library needed."""
    top = nice_ceiling(max((max(r["messages"], r["answers"]) for r in rows), default=0) or 1)
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(len(rows), 1)
    height_of = PLOT_BOTTOM - PLOT_TOP
    bars = []
    for index, row in enumerate(rows):
        for kind, offset, value in (
            ("messages", 0.1, row["messages"]),
            ("answers", 0.5, row["answers"]),
            ("errors", 0.5, row["errors"]),
        ):
            height = round(height_of * value / top, 2)
            bars.append(
                {
                    "kind": kind,
                    "x": round(PLOT_LEFT + (index + offset) * slot, 2),
                    "y": round(PLOT_BOTTOM - height, 2),
                    "width": round(slot * 0.4, 2),
                    "height": height,
                    "title": f"{row['day']:%Y-%m-%d}: {value} {kind}",
                }
            )
    return bars


def chart_axes(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The axes' ticks: counts on the left (0, half, the top), and the dates of at most
    X_LABELS days spread under the bars (the first day always)."""
    top = nice_ceiling(max((max(r["messages"], r["answers"]) for r in rows), default=0) or 1)
    height_of = PLOT_BOTTOM - PLOT_TOP
    values = sorted({0, top // 2, top}) if top > 1 else [0, 1]
    y_ticks = [{"y": round(PLOT_BOTTOM - height_of * v / top, 2), "label": v} for v in values]
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(len(rows), 1)
    every = max(1, -(-len(rows) // X_LABELS))  # ceiling division
    x_ticks = [
        {"x": round(PLOT_LEFT + (index + 0.5) * slot, 2), "label": f"{row['day']:%m-%d}"}
        for index, row in enumerate(rows)
        if index % every == 0
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": PLOT_LEFT,
        "top": PLOT_TOP,
        "right": PLOT_RIGHT,
        "bottom": PLOT_BOTTOM,
        "middle_x": (PLOT_LEFT + PLOT_RIGHT) / 2,
        "middle_y": (PLOT_TOP + PLOT_BOTTOM) / 2,
        "y_ticks": y_ticks,
        "x_ticks": x_ticks,
        "x_label_y": PLOT_BOTTOM + 16,
        "x_title_y": CHART_HEIGHT - 6,
    }


def percentile(values: list[int], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5 - 1e-9))
    return float(ordered[min(rank, len(ordered)) - 1])


def usage_overview(*, days: int = 30, today: date | None = None) -> dict[str, Any]:
    """Messages, answers and errors per day, time-to-first-token percentiles, tokens per
    model and per user."""
    today = today or timezone.localdate()
    start = today - timedelta(days=days - 1)
    # The days as a range of times, not `created__date` (a cast of every row, which
    # PostgreSQL cannot estimate: it sorted the period's messages on disk to group them
    # by user). The same days, in the current time zone.
    since = timezone.make_aware(datetime.combine(start, time.min))
    until = timezone.make_aware(datetime.combine(today + timedelta(days=1), time.min))
    period = Message.objects.filter(created__gte=since, created__lt=until)
    rows = _usage_per_day(period, start, days)
    ttfts = list(
        period.filter(role=Message.Role.ASSISTANT, ttft_ms__isnull=False).values_list(
            "ttft_ms", flat=True
        )
    )
    feedback = Feedback.objects.filter(message__created__gte=since).aggregate(
        up=Count("id", filter=Q(rating=Feedback.Rating.UP)),
        down=Count("id", filter=Q(rating=Feedback.Rating.DOWN)),
    )
    return {
        "start": start,
        "end": today,
        "days": rows,
        "bars": chart_bars(rows),
        "axes": chart_axes(rows),
        "totals": {key: sum(r[key] for r in rows) for key in ("messages", "answers", "errors")},
        "ttft_median": statistics.median(ttfts) if ttfts else None,
        "ttft_p95": percentile(ttfts, 0.95),
        "ttft_count": len(ttfts),
        "models": _usage_per_model(period),
        "users": usage_per_user(period),
        "user_rows": USAGE_USER_ROWS,
        "daily_budget": settings.CHAT_DAILY_TOKEN_BUDGET,
        "feedback": feedback,
    }


def _usage_per_day(period: QuerySet[Message], start: date, days: int) -> list[dict[str, Any]]:
    """One row per day of the period, days without messages included."""
    per_day = {
        row["day"]: row
        for row in period.annotate(day=TruncDate("created"))
        .values("day")
        .annotate(
            messages=Count("id", filter=Q(role=Message.Role.USER)),
            answers=Count("id", filter=Q(role=Message.Role.ASSISTANT)),
            errors=Count("id", filter=Q(status=Message.Status.ERROR)),
        )
    }
    rows = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        row = per_day.get(day, {})
        counts = {key: row.get(key, 0) for key in ("messages", "answers", "errors")}
        rows.append({"day": day, **counts})
    return rows


def _usage_per_model(period: QuerySet[Message]) -> list[dict[str, Any]]:
    return list(
        period.filter(role=Message.Role.ASSISTANT)
        .values("model_name")
        .annotate(
            answers=Count("id"),
            errors=Count("id", filter=Q(status=Message.Status.ERROR)),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            total_tokens=Sum("total_tokens"),
        )
        .order_by("-answers")
    )


# The users who used the most tokens in the period (then the most messages) are shown:
# the page stays one page whatever the number of users.
USAGE_USER_ROWS = 50


def usage_per_user(period: QuerySet[Message]) -> list[dict[str, Any]]:
    """Per user, in the period: conversations written in, messages sent, answers and
    their tokens; and the tokens counted against today's budget (UserQuota, by UTC
    day). Three queries whatever the number of users: the messages grouped by owner
    (hashed, no per-row sort: a COUNT(DISTINCT conversation) here sorted every message
    of the period on disk), then the shown users' conversations with a message in the
    period (a semi-join), then their quota rows."""
    rows = list(
        period.values(owner=F("conversation__owner_id"))
        .annotate(
            messages=Count("id", filter=Q(role=Message.Role.USER)),
            answers=Count("id", filter=Q(role=Message.Role.ASSISTANT)),
            tokens=Coalesce(Sum("total_tokens"), 0),
        )
        .order_by("-tokens", "-messages", "owner")[:USAGE_USER_ROWS]
    )
    owners = [row["owner"] for row in rows]
    active = Exists(period.filter(conversation=OuterRef("pk")))
    conversations = {
        owner: (name, count)
        for owner, name, count in Conversation.objects.filter(active, owner_id__in=owners)
        .values("owner_id", "owner__username")
        .annotate(count=Count("pk"))
        .values_list("owner_id", "owner__username", "count")
    }
    today = timezone.now().date()  # the budget's day is UTC (quotas.charge)
    used_today = dict(
        UserQuota.objects.filter(user_id__in=owners, day=today).values_list("user_id", "tokens_day")
    )
    return [
        {
            "user_id": row["owner"],
            "username": conversations[row["owner"]][0],
            "conversations": conversations[row["owner"]][1],
            "messages": row["messages"],
            "answers": row["answers"],
            "tokens": row["tokens"],
            "tokens_today": used_today.get(row["owner"], 0),
        }
        for row in rows
    ]
