"""A share link's snapshot (chat/conversations/snapshots.py) and a link's state, on
unsaved model instances: no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chat.conversations.snapshots import LIFETIMES, build_snapshot, shown_path
from chat.models import Message, ShareLink

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def message(content: str, parent: Message | None = None, **fields: object) -> Message:
    role = "user" if parent is None or parent.role == "assistant" else "assistant"
    made = Message(id=uuid.uuid4(), role=role, content=content, created=WHEN, **fields)
    made.parent_id = parent.pk if parent is not None else None
    return made


@pytest.fixture
def tree() -> dict[str, Message]:
    """q1 -> a1, a1b (regenerated); a1b -> q2 -> a2; q1b (an edit of q1) -> a3."""
    q1 = message("q1")
    a1 = message("a1", q1)
    a1b = message("a1b", q1, model_name="demo")
    q2 = message("q2", a1b)
    a2 = message("a2", q2, status="error", error="The model failed.")
    q1b = message("q1b")
    a3 = message("a3", q1b)
    return {m.content: m for m in (q1, a1, a1b, q2, a2, q1b, a3)}


def contents(snapshot: dict, numbers: list[int] | None = None) -> list[str]:
    by_n = {m["n"]: m["content"] for m in snapshot["messages"]}
    return [by_n[n] for n in (numbers if numbers is not None else sorted(by_n))]


def test_a_branch_keeps_the_path_shown_renumbered(tree: dict[str, Message]) -> None:
    snapshot = build_snapshot(
        title="T", scope="branch", messages=tree.values(), leaf_id=str(tree["a2"].pk)
    )
    assert contents(snapshot) == ["q1", "a1b", "q2", "a2"]
    assert [m["parent"] for m in snapshot["messages"]] == [None, 0, 1, 2]
    assert snapshot["leaf"] == 3 and snapshot["title"] == "T" and snapshot["version"] == 1
    assert snapshot["messages"][1]["model"] == "demo"
    assert snapshot["messages"][3]["error"] == "The model failed."
    assert snapshot["messages"][0]["created"] == WHEN.isoformat()
    text = repr(snapshot)
    assert not any(str(m.pk) in text for m in tree.values())  # no id of the owner's rows


def test_a_tree_keeps_every_message_in_the_order_written(tree: dict[str, Message]) -> None:
    snapshot = build_snapshot(
        title="T", scope="tree", messages=tree.values(), leaf_id=str(tree["a2"].pk)
    )
    assert contents(snapshot) == ["q1", "a1", "a1b", "q2", "a2", "q1b", "a3"]
    assert [m["parent"] for m in snapshot["messages"]] == [None, 0, 0, 2, 3, None, 5]
    assert snapshot["leaf"] == 4
    assert [m["content"] for m in shown_path(snapshot)] == ["q1", "a1b", "q2", "a2"]


@pytest.mark.parametrize("leaf", [None, "not-a-message"])
def test_without_a_saved_leaf_the_newest_message_path_is_shown(
    tree: dict[str, Message], leaf: str | None
) -> None:
    snapshot = build_snapshot(title="T", scope="branch", messages=tree.values(), leaf_id=leaf)
    assert contents(snapshot) == ["q1b", "a3"]
    assert [m["content"] for m in shown_path(snapshot)] == ["q1b", "a3"]


def test_nothing_to_snapshot() -> None:
    snapshot = build_snapshot(title="T", scope="tree", messages=[], leaf_id=None)
    assert (snapshot["messages"], snapshot["leaf"], shown_path(snapshot)) == ([], None, [])


def test_a_link_is_active_until_it_expires_or_is_revoked() -> None:
    now = WHEN
    assert ShareLink().state(now) == "active"
    assert ShareLink(expires=now + timedelta(seconds=1)).state(now) == "active"
    assert ShareLink(expires=now).state(now) == "expired"
    assert ShareLink(revoked=now - timedelta(days=1)).state(now) == "revoked"
    assert ShareLink(revoked=now, expires=now - timedelta(days=9)).state(now) == "revoked"
    lifetimes = {key: LIFETIMES[key] for key in ("1d", "7d", "30d", "never")}
    assert lifetimes == {
        "1d": timedelta(days=1),
        "7d": timedelta(days=7),
        "30d": timedelta(days=30),
        "never": None,
    }
