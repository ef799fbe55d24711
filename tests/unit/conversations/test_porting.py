"""The pure parts of export and import (chat/conversations/porting/): ChatGPT's
mapping as our tree, our format read back, the tree's checks and creation order,
table-driven; no database."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from chat.conversations.porting import chatgpt, drafts, ours
from chat.conversations.porting.drafts import DraftMessage, ImportInvalid


def node(
    key: str,
    parent: str | None,
    children: list[str],
    role: str | None = "user",
    text: str | None = None,
    when: float | None = None,
    **message: Any,
) -> dict[str, Any]:
    if role is None:
        return {"id": key, "parent": parent, "children": children, "message": None}
    body = {
        "id": key,
        "author": {"role": role},
        "create_time": when,
        "content": {"content_type": "text", "parts": [key if text is None else text]},
        "status": "finished_successfully",
        "metadata": {},
        "recipient": "all",
        **message,
    }
    return {"id": key, "parent": parent, "children": children, "message": body}


def conversation(*nodes: dict[str, Any], current: str | None = None) -> dict[str, Any]:
    return {
        "conversation_id": "c",
        "title": "t",
        "mapping": {n["id"]: n for n in nodes},
        "current_node": current,
    }


def tree_of(data: dict[str, Any]) -> tuple[list[tuple[str, str | None, str]], str | None]:
    (draft,) = chatgpt.read_chatgpt([data])
    return [(m.key, m.parent, m.role) for m in draft.messages], draft.leaf


ROOT = node("root", None, ["sys"], role=None)
SYS = node("sys", "root", ["q"], role="system", text="")
HIDDEN = {"metadata": {"is_visually_hidden_from_conversation": True}}

CASES = [
    pytest.param(
        conversation(
            ROOT, SYS, node("q", "sys", ["a"]), node("a", "q", [], "assistant"), current="a"
        ),
        ([("q", None, "user"), ("a", "q", "assistant")], "a"),
        id="plain: root and system left out",
    ),
    pytest.param(
        conversation(
            ROOT,
            SYS,
            node("q", "sys", ["a1", "a2"], when=1),
            node("a1", "q", [], "assistant", when=2),
            node("a2", "q", [], "assistant", when=3),
            current="a1",
        ),
        ([("q", None, "user"), ("a1", "q", "assistant"), ("a2", "q", "assistant")], "a1"),
        id="regenerated: siblings, the current node shown",
    ),
    pytest.param(
        conversation(
            ROOT,
            node("sys", "root", ["q1", "q2"], role="system", text=""),
            node("q1", "sys", [], when=5),
            node("q2", "sys", [], when=4),
            current="q1",
        ),
        ([("q2", None, "user"), ("q1", None, "user")], "q1"),
        id="edited first question: sibling roots, by time",
    ),
    pytest.param(
        conversation(
            ROOT,
            SYS,
            node("q", "sys", ["call"]),
            node("call", "q", ["out"], "assistant", recipient="python"),
            node("out", "call", ["a"], "tool"),
            node("a", "out", [], "assistant"),
            current="a",
        ),
        ([("q", None, "user"), ("a", "q", "assistant")], "a"),
        id="tool call and output: reparented",
    ),
    pytest.param(
        conversation(
            ROOT,
            SYS,
            node("q", "sys", ["ctx"]),
            node("ctx", "q", ["a"], **HIDDEN),
            node("a", "ctx", [], "assistant"),
            node("x", None, [], "assistant", text=" "),
            current="ctx",
        ),
        ([("q", None, "user"), ("a", "q", "assistant")], "q"),
        id="hidden and empty left out; a hidden current node shows its ancestor",
    ),
    pytest.param(
        conversation(ROOT, SYS, node("q", "sys", []), current="nowhere"),
        ([("q", None, "user")], None),
        id="unknown current node: the newest is shown",
    ),
]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_chatgpt_mapping_becomes_our_tree(data, expected) -> None:
    assert tree_of(data) == expected


def broken(change: dict[str, Any]) -> dict[str, Any]:
    nodes = {"root": ROOT, "sys": SYS, "q": node("q", "sys", [])}
    nodes.update(change)
    return {"conversation_id": "c", "title": "t", "mapping": nodes, "current_node": None}


REFUSED = [
    pytest.param(
        {"sys": node("sys", "root", [], "system"), "q": node("q", "gone", [])},
        "unknown node",
        id="unknown parent",
    ),
    pytest.param({"q": node("q", "sys", ["gone"])}, "unknown child", id="unknown child"),
    pytest.param({"sys": node("sys", "root", [], "system")}, None, id="children agree: fine"),
    pytest.param({"q": node("q", "sys", ["sys"])}, "names another parent", id="child disagrees"),
    pytest.param(
        {"root": node("root", "q", ["sys"], role=None), "q": node("q", "sys", ["root"])},
        "cycle",
        id="cycle",
    ),
    pytest.param({"q": node("q", "sys", [], role="wizard")}, "'wizard' is unknown", id="role"),
    pytest.param({"q": node("q", "sys", [], role=7)}, "is unknown", id="role not a string"),
    pytest.param({"q": {**node("q", "sys", []), "id": "other"}}, "not a node of that id", id="id"),
    pytest.param(
        {"q": node("q", "sys", [], content={"content_type": "text"})},
        "no list of parts",
        id="no parts",
    ),
    pytest.param({"q": node("q", "sys", [], create_time="noon")}, "not an ISO 8601", id="time"),
]


@pytest.mark.parametrize(("change", "words"), REFUSED)
def test_a_chatgpt_mapping_that_is_no_tree_is_refused(change, words) -> None:
    if words is None:
        chatgpt.read_chatgpt([broken(change)])
        return
    with pytest.raises(ImportInvalid, match=words):
        chatgpt.read_chatgpt([broken(change)])


def message(key: str, parent: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"id": key, "parent_id": parent, "role": "user", "content": key, **fields}


def export(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    item = {"id": "c", "title": "t", "messages": list(messages), **fields}
    return {"format": "chat-export", "version": 1, "conversations": [item]}


OURS_REFUSED = [
    pytest.param(export(message("a"), message("a")), "appears twice", id="duplicate id"),
    pytest.param(export(message("a", "b")), "unknown message b", id="unknown parent"),
    pytest.param(export(message("a", "b"), message("b", "a")), "cycle", id="cycle"),
    pytest.param(export(message("a", role="tool")), "not user or assistant", id="role"),
    pytest.param(export(message("a", status="queued")), "status", id="status"),
    pytest.param(export(message("a", content=3)), '"content" must be a string', id="content"),
    pytest.param(export(message("a"), current_leaf="z"), "current_leaf", id="leaf"),
    pytest.param(export(message("a"), temperature=9), "temperature", id="temperature"),
    pytest.param(export(message("a"), instructions="x" * 8001), "instructions", id="long"),
    pytest.param(export(message("a", usage={"total_tokens": -1})), "usage", id="usage"),
    pytest.param(export(message("a", created="yesterday")), "ISO 8601", id="time"),
    pytest.param({**export(), "conversations": {}}, "must be a list", id="not a list"),
    pytest.param(export(message("a"), summaries={}), '"summaries" must be a list', id="summaries"),
    pytest.param(export(message("a"), summaries=["x"]), "summary 1 is not", id="summary"),
    pytest.param(
        export(message("a"), summaries=[{"text": "s", "covers_up_to": "z"}]),
        "covers_up_to",
        id="summary point",
    ),
    pytest.param(
        export(message("a"), summaries=[{"text": 1, "covers_up_to": "a"}]),
        '"text" must be a string',
        id="summary text",
    ),
    pytest.param(
        export(message("a"), summaries=[{"covers_up_to": "a", "status": "lost"}]),
        "status 'lost'",
        id="summary status",
    ),
    pytest.param(
        export(message("a"), summaries=[{"covers_up_to": "a", "edited": "yes"}]),
        '"edited"',
        id="summary edited",
    ),
]


@pytest.mark.parametrize(("data", "words"), OURS_REFUSED)
def test_our_format_is_read_strictly(data, words) -> None:
    with pytest.raises(ImportInvalid, match=words):
        ours.read_ours(data)


def test_our_format_reads_back_statuses_feedback_and_the_leaf() -> None:
    (draft,) = ours.read_ours(
        export(
            message("q"),
            message(
                "a",
                "q",
                role="assistant",
                status="streaming",
                feedback={"rating": "up", "comment": "good"},
            ),
            current_leaf="a",
            temperature=0.5,
        )
    )
    answer = draft.messages[1]
    assert answer.status == "stopped" and answer.feedback == {"rating": "up", "comment": "good"}
    assert draft.leaf == "a" and draft.temperature == 0.5


def deep(depth: int) -> dict[str, str | None]:
    return {f"m{n}": (f"m{n - 1}" if n else None) for n in range(depth)}


@pytest.mark.parametrize(
    ("parents", "words"),
    [
        ({"a": None, "b": "a"}, None),
        (deep(drafts.MAX_DEPTH), None),
        (deep(drafts.MAX_DEPTH + 1), "deeper than"),
        ({"a": "b", "b": "a"}, "cycle"),
        ({"a": "a"}, "cycle"),
        ({"a": "x"}, "unknown message x"),
    ],
    ids=["tree", "at the limit", "over it", "cycle", "self", "unknown"],
)
def test_check_tree(parents, words) -> None:
    if words is None:
        drafts.check_tree(parents, "here")
    else:
        with pytest.raises(ImportInvalid, match=words):
            drafts.check_tree(parents, "here")


def at(second: int | None) -> datetime | None:
    return None if second is None else datetime(2024, 1, 1, 0, 0, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rows", "order"),
    [
        ([("a", None, 1), ("b", "a", 2)], "ab"),
        ([("b", "a", 2), ("a", None, 1)], "ab"),  # the file's order does not matter
        ([("a", None, 5), ("b", "a", 1)], "ab"),  # a child before its parent in time: after
        ([("a", None, 1), ("c", "a", 9), ("b", "a", 3), ("d", "b", 4)], "abdc"),
        ([("a", None, None), ("b", None, None)], "ab"),  # no times: the file's order
        ([("a", None, 1), ("b", "a", None), ("c", "a", 2)], "abc"),  # no time: its parent's
    ],
)
def test_creation_order_puts_parents_first_and_times_strictly_increase(rows, order) -> None:
    messages = [
        DraftMessage(key=k, parent=p, role="user", content=k, created=at(t)) for k, p, t in rows
    ]
    ordered = drafts.in_creation_order(messages)
    assert "".join(m.key for m in ordered) == order
    times = [m.created for m in ordered]
    assert all(earlier < later for earlier, later in pairwise(times))


def test_the_import_key_changes_with_the_content_only() -> None:
    def draft(text: str, title: str = "t") -> drafts.Draft:
        return drafts.Draft("chatgpt", "c", title, [DraftMessage("m", None, "user", text)])

    assert draft("hi").key == draft("hi").key
    assert draft("hi").key != draft("hello").key
    assert draft("hi").key != drafts.Draft("chat-export", "c", "t", draft("hi").messages).key


@pytest.mark.parametrize(
    ("raw", "words"),
    [(b'{"a": 1, "a": 2}', "appears twice"), (b"{", "not valid JSON"), (b"\xff\xfe\x00", "JSON")],
)
def test_loads_refuses_duplicate_keys_and_bad_json(raw, words) -> None:
    with pytest.raises(ImportInvalid, match=words):
        drafts.loads(raw)


def test_our_format_checks_its_summaries_and_leaves_them_behind() -> None:
    """Exports since issue #25 carry each conversation's summaries: read without them
    as before (a summary is written again after an answer when one is due)."""
    summaries = [
        {"text": "So far…", "covers_up_to": "q", "status": "ready", "edited": True},
        {"text": "", "covers_up_to": "a", "status": "cleared", "edited": False},
    ]
    with_them = ours.read_ours(export(message("q"), message("a", "q"), summaries=summaries))
    without = ours.read_ours(export(message("q"), message("a", "q")))
    assert with_them == without
