"""Whether a request may start an answer: the rules, on plain values (no database).

`exchanges_start` (exchanges.py) reads and locks what the rules need, asks
`decide_batch`, then writes what was accepted. Each request gets one decision: an
`Accept` (what to write), a `Resend` (its client_id was seen before in the
conversation: nothing new is written), or the exception that refuses it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.conversations import quotas
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation, Message, UserQuota


class Kind(StrEnum):
    """What a request asks for: a new question at the end of the current path, or a
    branch (chat/tree.py): an edited question, another answer to the same question,
    or the continuation of a cut-off answer (a new version that starts with its text)."""

    SEND = "send"
    EDIT = "edit"
    REGENERATE = "regenerate"
    CONTINUE = "continue"


@dataclass(frozen=True)
class Target:
    """The message an edit, regenerate or continue points at, as read."""

    id: str
    conversation_id: str
    role: str
    parent_id: UUID | None
    content: str = ""
    status: str = Message.Status.COMPLETE
    finish_reason: str = ""

    @classmethod
    def of(cls, message: Message) -> Target:
        """A message as read (its fields only: no database here)."""
        return cls(
            str(message.pk),
            str(message.conversation_id),
            message.role,
            message.parent_id,
            message.content,
            message.status,
            message.finish_reason,
        )


@dataclass(frozen=True)
class ConversationState:
    """A conversation as the rules see it. `leaf_id`: the last message of its current
    path; a live answer makes it busy, a stale one (its stream died) does not."""

    id: str
    owner_id: int
    leaf_id: str | None = None
    live_answer: bool = False
    stale_answer: bool = False
    client_ids: frozenset[str] = frozenset()  # of the user messages saved in it


@dataclass(frozen=True)
class Ask:
    """One request, as the rules see it."""

    user_id: int
    conversation_id: str
    kind: Kind = Kind.SEND
    client_id: str | None = None
    target: Target | None = None
    estimate: int = 0  # the tokens its answer may cost (quotas.reservation)


@dataclass(frozen=True)
class Limits:
    """A user's limits: the quota row (`quotas.admit` counts an accepted send in its
    `recent_sends`, which the caller saves), how many answers are streaming now and
    the tokens they hold (their reservations), and what the user stores."""

    quota: UserQuota
    active: int = 0
    reserved: int = 0
    stored: int = 0  # bytes of text the user keeps


@dataclass(frozen=True)
class Accept:
    """What to write: a user message (`saves_question`) under `parent_id`, then the
    streaming answer under it; without a question, the answer goes under `parent_id`.
    `prefix`: the text the answer starts with (a continue); `reserved`: the tokens
    the answer holds of the user's budget while it streams."""

    parent_id: UUID | str | None
    saves_question: bool
    prefix: str = ""
    reserved: int = 0


@dataclass(frozen=True)
class Resend:
    """The request's client_id was seen before in its conversation: the message saved
    then is the answer, and nothing is written."""

    client_id: str


Decision = Accept | Resend | Refusal | Conversation.DoesNotExist

NO_SUCH_MESSAGE = Refusal(ErrorCode.NOT_FOUND, _("No such message here."))


def refuse_target(kind: Kind, target: Target | None, leaf: str | None) -> Refusal | None:
    """Why `target` cannot be the message of a `kind` request (None: it can). `leaf`
    is the id of the last message of the conversation's current path."""
    if kind == Kind.SEND:
        return None
    if target is None:
        return NO_SUCH_MESSAGE
    if kind == Kind.EDIT and target.role != Message.Role.USER:
        return Refusal(ErrorCode.BAD_FRAME, _("Only your own messages can be edited."))
    if kind in (Kind.REGENERATE, Kind.CONTINUE) and (
        target.role != Message.Role.ASSISTANT or target.parent_id is None
    ):
        return Refusal(ErrorCode.BAD_FRAME, _("Only an answer can be regenerated or continued."))
    if kind == Kind.CONTINUE and not (
        str(target.id) == str(leaf)
        and target.content
        and (
            target.status in (Message.Status.STOPPED, Message.Status.ERROR)
            or target.finish_reason == "length"
        )
    ):
        return Refusal(
            ErrorCode.BAD_FRAME,
            _("Only the last answer, stopped or cut off before its end, can be continued."),
        )
    if kind == Kind.CONTINUE and len(target.content) >= settings.CHAT_MAX_ANSWER_CHARS:
        return Refusal(
            ErrorCode.TOO_LONG,
            format_lazy(
                _(
                    "This answer has reached the longest an answer may be "
                    "({limit} characters): ask a new question instead."
                ),
                limit=settings.CHAT_MAX_ANSWER_CHARS,
            ),
        )
    return None


def decide(
    ask: Ask, conversation: ConversationState | None, limits: Limits, *, now: datetime
) -> Decision:
    """The decision for one request, in the order the rules apply: the conversation
    must be the user's; a resend is answered before any limit; then busy, the target,
    and the user's limits."""
    if conversation is None or conversation.owner_id != ask.user_id:
        return Conversation.DoesNotExist()
    if ask.client_id and ask.client_id in conversation.client_ids:
        return Resend(ask.client_id)
    if conversation.live_answer:
        return quotas.ConversationBusy()
    target = ask.target
    if target is not None and target.conversation_id != conversation.id:
        target = None  # another conversation's message is no message here
    problem = refuse_target(ask.kind, target, conversation.leaf_id)
    if problem is not None:
        return problem
    refusal = quotas.admit(
        limits.quota,
        active=limits.active,
        now=now,
        reserved=limits.reserved,
        estimate=ask.estimate,
        stored=limits.stored,
    )
    if refusal is not None:
        return refusal
    if ask.kind == Kind.SEND:
        return Accept(parent_id=conversation.leaf_id, saves_question=True, reserved=ask.estimate)
    assert target is not None
    return Accept(
        parent_id=target.parent_id,
        saves_question=ask.kind == Kind.EDIT,
        prefix=target.content if ask.kind == Kind.CONTINUE else "",
        reserved=ask.estimate,
    )


def decide_batch(
    asks: Sequence[Ask],
    conversations: Mapping[str, ConversationState],
    quota_rows: Mapping[int, UserQuota],
    active: Mapping[int, int],
    *,
    now: datetime,
    reserved: Mapping[int, int] | None = None,
    stored: Mapping[int, int] | None = None,
) -> list[Decision]:
    """`decide` for each request in turn, each seeing what the ones before it were
    granted: a second request for a conversation is busy, a second with the same
    client_id is a resend, and the user's answers, sends and reservations count up."""
    states = dict(conversations)
    running = Counter(active)
    held = Counter(reserved or {})
    decisions: list[Decision] = []
    for ask in asks:
        state = states.get(ask.conversation_id)
        limits = Limits(
            quota_rows[ask.user_id],
            active=running[ask.user_id],
            reserved=held[ask.user_id],
            stored=(stored or {}).get(ask.user_id, 0),
        )
        decision = decide(ask, state, limits, now=now)
        if isinstance(decision, Accept):
            assert state is not None
            running[ask.user_id] += 1
            held[ask.user_id] += decision.reserved
            seen = {ask.client_id} if decision.saves_question and ask.client_id else set()
            states[ask.conversation_id] = replace(
                state, live_answer=True, client_ids=state.client_ids | seen
            )
        decisions.append(decision)
    return decisions
