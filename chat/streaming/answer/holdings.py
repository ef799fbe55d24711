"""What a start reads of what its users hold, and what each answer may cost.

`exchanges_start` reads `holdings_read` (only what the settings turn on: with a daily
token budget, the tokens the users' streaming answers hold and the length of every
message their answers may be given; with a storage cap, the bytes they keep) and
asks `estimate` for each request: the tokens its answer is reserved while it streams
(quotas.reservation). A continue shows the model the end of its answer
(`continue_tail`), the same in the estimate and in the context.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.conf import settings

from chat.conversations import quotas, selectors
from chat.conversations.tree import Tree
from chat.provider.prompts import CONTINUE_PROMPT
from chat.streaming.answer.admission import Kind, Target

CONTINUE_TAIL_CHARS = 6000


@dataclass
class Holdings:
    """What the users of a batch hold (empty where no setting asks for it)."""

    active: Counter[int] = field(default_factory=Counter)  # answers streaming now
    reserved: Counter[int] = field(default_factory=Counter)  # by their streaming answers
    stored: Counter[int] = field(default_factory=Counter)  # bytes of text they keep
    lengths: dict[str, int] = field(default_factory=dict)  # of messages the model may get


def holdings_read(users: set[int], conversation_ids: list[str], cutoff: datetime) -> Holdings:
    """`cutoff`: an answer not saved since then is stale (its process died)."""
    holdings = Holdings()
    if settings.CHAT_MAX_STORED_BYTES_PER_USER:  # both from one pass over their messages
        holdings.active, holdings.reserved, holdings.stored = quotas.streaming_and_stored(
            users, cutoff
        )
    else:
        holdings.active, holdings.reserved = quotas.streaming_answers(users, cutoff)
    if settings.CHAT_DAILY_TOKEN_BUDGET:
        holdings.lengths = selectors.context_lengths(conversation_ids=conversation_ids)
    return holdings


def estimate(
    kind: Kind,
    *,
    question: str,
    target: Target | None,
    leaf: str | None,
    instructions: str,
    tree: Tree,
    lengths: dict[str, int],
) -> int:
    """The tokens a request's answer may cost (quotas.reservation): what its context
    will hold, as exchanges builds it (the path's messages as `pick_context` keeps
    them, the operator's prompt and the conversation's instructions), and the cap."""
    parent: UUID | str | None = leaf
    newest = [len(question)]  # the question, when the request saves one
    if kind != Kind.SEND:
        parent = target.parent_id if target is not None else None
        if kind == Kind.CONTINUE and target is not None:
            newest = [len(CONTINUE_PROMPT), len(continue_tail(target.content))]
        elif kind == Kind.REGENERATE:
            newest = []
    path = tree.path(str(parent) if parent else None)
    kept = selectors.picked_length([*newest, *(lengths[m] for m in reversed(path) if m in lengths)])
    return quotas.reservation(len(settings.LLM_SYSTEM_PROMPT) + len(instructions) + kept)


def continue_tail(text: str) -> str:
    """The end of an answer that the model is shown to continue it: at most
    CONTINUE_TAIL_CHARS, and within the history budget with the prompt (the whole
    answer may not fit: then the model would be asked to continue text it cannot see)."""
    room = settings.CHAT_HISTORY_CHAR_BUDGET - len(CONTINUE_PROMPT)
    keep = max(min(CONTINUE_TAIL_CHARS, room), 1)
    return text[max(len(text) - keep, 0) :]
