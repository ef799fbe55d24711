"""The rules for starting an answer (chat/streaming/answer/admission.py), on plain
values: request kind × conversation state × the user's limits, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chat.conversations import quotas
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation, UserQuota
from chat.streaming.answer.admission import (
    Accept,
    Ask,
    ConversationState,
    Kind,
    Limits,
    Resend,
    Target,
    decide,
    decide_batch,
)

NOON = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
ALICE, BOB = 1, 2
MISSING = "missing"  # the conversation is not the user's: Conversation.DoesNotExist

# A conversation "c": question q1, its answer a1 (complete), a second version a2 of
# the answer (stopped partway, the current leaf); q2, an edit of q1 with no answer.
Q1 = Target("q1", "c", "user", None, "Tell me a story")
A1 = Target("a1", "c", "assistant", "q1", "Once upon a time, the end.")
A2 = Target("a2", "c", "assistant", "q1", "Once upon", status="stopped")
Q2 = Target("q2", "c", "user", None, "Tell me a poem")
CONVERSATION = ConversationState(id="c", owner_id=ALICE, leaf_id="a2")

# The message each kind points at when the request is valid.
VALID_TARGET = {Kind.SEND: None, Kind.EDIT: Q1, Kind.REGENERATE: A1, Kind.CONTINUE: A2}
KINDS = list(Kind)


@pytest.fixture(autouse=True)
def small_limits(settings) -> None:
    """Limits small enough to reach in a few requests."""
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 3
    settings.CHAT_MAX_ACTIVE_ANSWERS_PER_USER = 2
    settings.CHAT_DAILY_TOKEN_BUDGET = 1000


def ask(kind: Kind, target: Target | None = None, **changes: Any) -> Ask:
    fields: dict[str, Any] = {"user_id": ALICE, "conversation_id": "c", "kind": kind}
    return Ask(**{**fields, "target": target, **changes})


def fresh(active: int = 0) -> Limits:
    return Limits(UserQuota(user_id=ALICE), active=active)


def outcome(decision: Any) -> Any:
    """An Accept or Resend as it is; a refusal by its code; a missing conversation."""
    if isinstance(decision, Conversation.DoesNotExist):
        return MISSING
    if isinstance(decision, Refusal):
        return decision.code
    return decision


# --- The conversation ------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("state", "client_id", "expected"),
    [
        pytest.param(None, None, MISSING, id="missing"),
        pytest.param(replace(CONVERSATION, owner_id=BOB), None, MISSING, id="other-owner"),
        # A resend is answered before busy and every later rule.
        pytest.param(
            replace(CONVERSATION, client_ids=frozenset({"k"}), live_answer=True),
            "k",
            Resend("k"),
            id="resend",
        ),
        pytest.param(replace(CONVERSATION, live_answer=True), None, ErrorCode.BUSY, id="live"),
        pytest.param(
            replace(CONVERSATION, client_ids=frozenset({"k"})), "other", Accept, id="new-client-id"
        ),
        # A stale answer (its stream died) is swept, and does not make the conversation busy.
        pytest.param(replace(CONVERSATION, stale_answer=True), None, Accept, id="stale"),
    ],
)
def test_the_conversation_decides_first_for_every_kind(
    kind: Kind, state: ConversationState | None, client_id: str | None, expected: Any
) -> None:
    request = ask(kind, VALID_TARGET[kind], client_id=client_id)
    decided = outcome(decide(request, state, fresh(), now=NOON))
    if expected is Accept:
        assert isinstance(decided, Accept)
    else:
        assert decided == expected


# --- The message a branch points at ----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "target", "leaf", "expected"),
    [
        # A send ignores any target and goes on from the current leaf (or starts a tree).
        (Kind.SEND, None, "a2", Accept("a2", saves_question=True)),
        (Kind.SEND, A1, "a2", Accept("a2", saves_question=True)),
        (Kind.SEND, None, None, Accept(None, saves_question=True)),
        # An edit saves a new question beside the old one.
        (Kind.EDIT, Q1, "a2", Accept(None, saves_question=True)),
        (Kind.EDIT, replace(Q2, parent_id="a1"), "a2", Accept("a1", saves_question=True)),
        # Regenerate: a new answer to the same question; continue: one that starts with
        # the old text. Neither saves a question.
        (Kind.REGENERATE, A1, "a2", Accept("q1", saves_question=False)),
        (Kind.REGENERATE, A2, "a2", Accept("q1", saves_question=False)),
        (Kind.CONTINUE, A2, "a2", Accept("q1", saves_question=False, prefix="Once upon")),
        (Kind.CONTINUE, replace(A2, status="error"), "a2", Accept("q1", False, "Once upon")),
        (
            Kind.CONTINUE,
            replace(A2, status="complete", finish_reason="length"),
            "a2",
            Accept("q1", saves_question=False, prefix="Once upon"),
        ),
        # The target is missing, or another conversation's.
        (Kind.EDIT, None, "a2", ErrorCode.NOT_FOUND),
        (Kind.REGENERATE, None, "a2", ErrorCode.NOT_FOUND),
        (Kind.CONTINUE, None, "a2", ErrorCode.NOT_FOUND),
        (Kind.EDIT, replace(Q1, conversation_id="elsewhere"), "a2", ErrorCode.NOT_FOUND),
        (Kind.REGENERATE, replace(A1, conversation_id="elsewhere"), "a2", ErrorCode.NOT_FOUND),
        (Kind.CONTINUE, replace(A2, conversation_id="elsewhere"), "a2", ErrorCode.NOT_FOUND),
        # The wrong role: only a question is edited, only an answer regenerated or continued.
        (Kind.EDIT, A1, "a2", ErrorCode.BAD_FRAME),
        (Kind.REGENERATE, Q1, "a2", ErrorCode.BAD_FRAME),
        (Kind.CONTINUE, Q1, "a2", ErrorCode.BAD_FRAME),
        (Kind.REGENERATE, replace(A1, parent_id=None), "a2", ErrorCode.BAD_FRAME),
        (Kind.CONTINUE, replace(A2, parent_id=None), "a2", ErrorCode.BAD_FRAME),
        # Continue: only the leaf, only when cut off, only when it has text.
        (Kind.CONTINUE, A2, "a1", ErrorCode.BAD_FRAME),
        (Kind.CONTINUE, replace(A2, status="complete"), "a2", ErrorCode.BAD_FRAME),
        (Kind.CONTINUE, replace(A2, content=""), "a2", ErrorCode.BAD_FRAME),
        (Kind.CONTINUE, replace(A2, status="streaming"), "a2", ErrorCode.BAD_FRAME),
    ],
)
def test_a_branch_needs_the_right_message(
    kind: Kind, target: Target | None, leaf: str | None, expected: Any
) -> None:
    state = replace(CONVERSATION, leaf_id=leaf)
    assert outcome(decide(ask(kind, target), state, fresh(), now=NOON)) == expected


def test_a_refused_target_says_why() -> None:
    """The sentence the user reads names what went wrong."""
    sentences = {
        kind: decide(ask(kind, target), CONVERSATION, fresh(), now=NOON).message
        for kind, target in [(Kind.EDIT, A1), (Kind.REGENERATE, Q1), (Kind.CONTINUE, A1)]
    }
    assert "edited" in sentences[Kind.EDIT]
    assert "regenerated or continued" in sentences[Kind.REGENERATE]
    assert "stopped or cut off" in sentences[Kind.CONTINUE]


# --- The user's limits -----------------------------------------------------------


def over_rate() -> Limits:
    sent = [(NOON - timedelta(seconds=s)).isoformat() for s in (50, 40, 30)]
    return Limits(UserQuota(user_id=ALICE, recent_sends=sent))


def over_budget() -> Limits:
    return Limits(UserQuota(user_id=ALICE, day=NOON.date(), tokens_day=1000))


LIMITS = [
    pytest.param(over_rate, ErrorCode.RATE_LIMITED, 10, id="rate-limit"),
    pytest.param(over_budget, ErrorCode.QUOTA_EXCEEDED, 12 * 3600, id="quota-exceeded"),
    pytest.param(lambda: fresh(active=2), ErrorCode.RATE_LIMITED, 5, id="too-many-active"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("limits", "code", "retry_after"), LIMITS)
def test_every_kind_is_held_to_the_users_limits(
    kind: Kind, limits: Any, code: ErrorCode, retry_after: int
) -> None:
    held = limits()
    before = list(held.quota.recent_sends)
    refusal = decide(ask(kind, VALID_TARGET[kind]), CONVERSATION, held, now=NOON)
    assert isinstance(refusal, quotas.Refused)
    assert (refusal.code, refusal.retry_after) == (code, retry_after)
    assert held.quota.recent_sends == before  # a refusal is not counted


@pytest.mark.parametrize("kind", KINDS)
def test_an_accepted_request_is_counted_in_the_users_sends(kind: Kind) -> None:
    limits = fresh()
    assert isinstance(decide(ask(kind, VALID_TARGET[kind]), CONVERSATION, limits, now=NOON), Accept)
    assert limits.quota.recent_sends == [NOON.isoformat()]


@pytest.mark.parametrize(
    "over",
    [over_rate, over_budget, lambda: fresh(active=2)],
    ids=["rate-limit", "quota-exceeded", "too-many-active"],
)
@pytest.mark.parametrize(
    ("state", "request_", "expected"),
    [
        pytest.param(None, ask(Kind.SEND), MISSING, id="missing"),
        pytest.param(
            replace(CONVERSATION, client_ids=frozenset({"k"})),
            ask(Kind.SEND, client_id="k"),
            Resend("k"),
            id="resend",
        ),
        pytest.param(
            replace(CONVERSATION, live_answer=True), ask(Kind.SEND), ErrorCode.BUSY, id="live"
        ),
        pytest.param(CONVERSATION, ask(Kind.EDIT), ErrorCode.NOT_FOUND, id="target-missing"),
        pytest.param(CONVERSATION, ask(Kind.EDIT, A1), ErrorCode.BAD_FRAME, id="wrong-role"),
    ],
)
def test_the_conversation_and_target_rules_come_before_the_limits(
    over: Any, state: ConversationState | None, request_: Ask, expected: Any
) -> None:
    """A request refused for its conversation or target says so even over a limit, and
    a resend goes through however many answers the user has."""
    held = over()
    before = list(held.quota.recent_sends)
    assert outcome(decide(request_, state, held, now=NOON)) == expected
    assert held.quota.recent_sends == before


# --- A batch ---------------------------------------------------------------------


def batch(asks: list[Ask], active: int = 0, **states: ConversationState) -> list[Any]:
    conversations = {"c": CONVERSATION, **states}
    quota_rows = {ALICE: UserQuota(user_id=ALICE), BOB: UserQuota(user_id=BOB)}
    decisions = decide_batch(asks, conversations, quota_rows, {ALICE: active}, now=NOON)
    return [outcome(d) if not isinstance(d, Accept) else Accept for d in decisions]


OTHER = ConversationState(id="d", owner_id=ALICE)
THIRD = ConversationState(id="e", owner_id=ALICE)
BOBS = ConversationState(id="b", owner_id=BOB)


@pytest.mark.parametrize("second", KINDS)
@pytest.mark.parametrize("first", KINDS)
def test_a_second_request_for_a_conversation_in_one_batch_is_busy(
    first: Kind, second: Kind
) -> None:
    asks = [ask(first, VALID_TARGET[first]), ask(second, VALID_TARGET[second])]
    assert batch(asks) == [Accept, ErrorCode.BUSY]


@pytest.mark.parametrize(
    ("asks", "active", "expected"),
    [
        pytest.param(
            [ask(Kind.SEND, client_id="k"), ask(Kind.SEND, client_id="k")],
            0,
            [Accept, Resend("k")],
            id="same-client-id-is-a-resend",
        ),
        pytest.param(
            [ask(Kind.EDIT, Q1, client_id="k"), ask(Kind.SEND, client_id="k")],
            0,
            [Accept, Resend("k")],
            id="an-edit-saves-its-client-id",
        ),
        pytest.param(
            [ask(Kind.REGENERATE, A1, client_id="k"), ask(Kind.SEND, client_id="k")],
            0,
            [Accept, ErrorCode.BUSY],
            id="a-regenerate-saves-no-question",
        ),
        pytest.param(
            [ask(Kind.SEND, client_id="k"), ask(Kind.SEND, conversation_id="d", client_id="k")],
            0,
            [Accept, Accept],
            id="a-client-id-is-per-conversation",
        ),
        pytest.param(
            [
                ask(Kind.SEND),
                ask(Kind.SEND, conversation_id="d"),
                ask(Kind.SEND, conversation_id="e"),
            ],
            0,
            [Accept, Accept, ErrorCode.RATE_LIMITED],
            id="answers-count-up-to-too-many-active",
        ),
        pytest.param(
            [ask(Kind.SEND), ask(Kind.SEND, conversation_id="d")],
            1,
            [Accept, ErrorCode.RATE_LIMITED],
            id="on-top-of-those-already-streaming",
        ),
        pytest.param(
            [
                ask(Kind.SEND, conversation_id="b"),
                ask(Kind.SEND),
                ask(Kind.SEND, conversation_id="d"),
            ],
            1,
            [MISSING, Accept, ErrorCode.RATE_LIMITED],
            id="a-refused-one-does-not-count",
        ),
        pytest.param(
            [ask(Kind.SEND), ask(Kind.SEND, user_id=BOB, conversation_id="b")],
            2,
            [ErrorCode.RATE_LIMITED, Accept],
            id="each-user-has-their-own-limits",
        ),
    ],
)
def test_each_request_in_a_batch_sees_what_the_ones_before_it_were_granted(
    asks: list[Ask], active: int, expected: list[Any]
) -> None:
    assert batch(asks, active, d=OTHER, e=THIRD, b=BOBS) == expected


def test_the_batch_counts_each_accepted_send_against_the_rate_limit(settings) -> None:
    settings.CHAT_MAX_ACTIVE_ANSWERS_PER_USER = 10
    states = {key: ConversationState(id=key, owner_id=ALICE) for key in "wxyz"}
    quota = UserQuota(user_id=ALICE)
    asks = [ask(Kind.SEND, conversation_id=key) for key in "wxyz"]
    decisions = decide_batch(asks, states, {ALICE: quota}, {}, now=NOON)
    assert [outcome(d) if isinstance(d, Refusal) else Accept for d in decisions] == [
        Accept,
        Accept,
        Accept,
        ErrorCode.RATE_LIMITED,
    ]
    assert len(quota.recent_sends) == 3


def test_the_batch_leaves_its_inputs_as_they_were() -> None:
    """The states read are the conversations' before the batch; only the quota rows
    (which the caller saves) change."""
    conversations = {"c": CONVERSATION}
    active = {ALICE: 0}
    decide_batch(
        [ask(Kind.SEND, client_id="k")], conversations, {ALICE: UserQuota()}, active, now=NOON
    )
    assert conversations == {"c": CONVERSATION} and active == {ALICE: 0}
    assert not CONVERSATION.live_answer and CONVERSATION.client_ids == frozenset()


def test_an_answer_at_its_longest_cannot_be_continued(settings) -> None:
    """Each continue copies the answer and adds to it: at CHAT_MAX_ANSWER_CHARS it ends."""
    settings.CHAT_MAX_ANSWER_CHARS = len(A2.content)
    refusal = decide(ask(Kind.CONTINUE, A2), CONVERSATION, fresh(), now=NOON)
    assert isinstance(refusal, Refusal) and refusal.code == ErrorCode.TOO_LONG
    assert f"{len(A2.content)} characters" in refusal.message
    settings.CHAT_MAX_ANSWER_CHARS = len(A2.content) + 1
    assert isinstance(decide(ask(Kind.CONTINUE, A2), CONVERSATION, fresh(), now=NOON), Accept)


def test_a_batch_holds_each_accepted_answers_estimate_for_the_next() -> None:
    """Two answers at once: the first's reservation counts when the second is decided."""
    other = replace(CONVERSATION, id="d")
    asks = [ask(Kind.SEND, estimate=600), ask(Kind.SEND, conversation_id="d", estimate=600)]
    decisions = decide_batch(
        asks, {"c": CONVERSATION, "d": other}, {ALICE: UserQuota(user_id=ALICE)}, {}, now=NOON
    )
    assert isinstance(decisions[0], Accept) and decisions[0].reserved == 600
    assert outcome(decisions[1]) == ErrorCode.QUOTA_EXCEEDED
