"""Starting answers: many starts in one transaction (group commit).

When many users send at the same moment, each exchange costs about ten statements
and their ORM work, one after another under the GIL: the hundredth user waited half
a second for the model call. They go through a group call (chat/db.py `GroupCall`):
the first request of a quiet moment goes to the database at once (no added delay),
and whatever arrives while a batch is in the database goes together in the next one:
a few statements per batch instead of ten per exchange. `exchanges_start` is the one
way an answer starts: it reads and locks, asks the rules (admission.py, pure), then
writes. If a batch fails as a whole (a deadlock, a constraint race with another
process), each of its requests runs again as a batch of its own, so a request never
fails for another's sake.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from chat import db
from chat.conversations import attachments, liveness, quotas, selectors, services
from chat.conversations.tree import Tree
from chat.errors import Refusal
from chat.models import Attachment, Conversation, Message, UserQuota
from chat.provider import llm
from chat.provider.prompts import CONTINUE_PROMPT
from chat.streaming.answer import admission
from chat.streaming.answer.admission import Kind
from chat.streaming.answer.generation import AnswerOptions
from chat.streaming.answer.holdings import (
    Holdings,
    continue_tail,
    estimate,
    holdings_read,
)

if TYPE_CHECKING:
    from chat.models import User

logger = logging.getLogger(__name__)

MAX_BATCH = 200
DATABASE_DOWN = "The database is unavailable for a moment; your message was not saved. Try again."


@dataclass
class ExchangeRequest:
    user: User
    conversation_id: UUID | str
    content: str
    client_id: str | None
    kind: Kind = Kind.SEND
    target_id: str | None = None  # the message edited, regenerated or continued
    limits: llm.AnswerLimits = llm.NO_LIMITS  # an API client's, for this answer
    attachments: tuple[str, ...] = ()  # ids of the user's unsent files the question carries


Outcome = services.Exchange | Exception


@dataclass
class _Batch:
    """What a batch read and locked: the rules' inputs, and the rows it writes."""

    conversations: dict[str, Conversation]
    states: dict[str, admission.ConversationState]
    earlier: dict[tuple[str, str], Message]  # (conversation, client_id): its message
    targets: dict[str, admission.Target]
    trees: dict[str, Tree]
    quota_rows: dict[int, UserQuota]
    now: datetime  # the database's clock: every time here is judged by it (liveness.py)
    holdings: Holdings


@dataclass
class _Started:
    """An accepted request's new rows (saved once the batch writes)."""

    index: int
    kind: Kind
    question: Message | None
    answer: Message


@transaction.atomic
def exchanges_start(requests: list[ExchangeRequest]) -> list[Outcome]:
    """`exchanges_checked` for the requests whose files pass (`_files_check`); the
    others are refused with the reason."""
    files, refused = _files_check(requests)
    if not refused:
        return exchanges_checked(requests, files)
    admitted = [i for i in range(len(requests)) if i not in refused]
    outcomes = exchanges_checked(
        [requests[i] for i in admitted], {n: files[i] for n, i in enumerate(admitted) if i in files}
    )
    by_index = dict(zip(admitted, outcomes, strict=True))
    return [by_index[i] if i in by_index else refused[i] for i in range(len(requests))]


def _files_check(
    requests: list[ExchangeRequest],
) -> tuple[dict[int, list[Attachment]], dict[int, Exception]]:
    """The files each request's question carries (its user's, unsent), or why it is
    refused: a file unknown or not theirs (`not_found`), too many, an image for a
    model that does not read images (`invalid`)."""
    files: dict[int, list[Attachment]] = {}
    refused: dict[int, Exception] = {}
    for index, request in enumerate(requests):
        if not request.attachments:
            continue
        try:
            found = attachments.attachments_for_send(
                owner=request.user, ids=list(request.attachments)
            )
            model = (
                Conversation.objects.filter(pk=request.conversation_id, owner=request.user)
                .values_list("model", flat=True)
                .first()
            )
            spec = llm.resolve_model_or_default(model)
            attachments.images_refusal(
                attachments=found, model_label=spec.label, images=spec.images
            )
        except Refusal as exc:
            refused[index] = exc
        else:
            files[index] = found
    return files, refused


def exchanges_checked(
    requests: list[ExchangeRequest], files: dict[int, list[Attachment]] | None = None
) -> list[Outcome]:
    """Save each request's user message and the `streaming` answer that will follow
    it, and read what the model gets for it, in one transaction: one outcome per
    request, an Exchange or the exception that refuses it (DoesNotExist: not the
    user's conversation; a Refusal: busy, rate limited, over quota, not branchable). A
    `client_id` seen before in the conversation is a resend: the earlier message, no
    new answer.

    The conversations are locked, so two processes cannot start two answers at once.
    The rules themselves are admission.py's; this reads, asks them, and writes."""
    batch = _batch_load(requests)
    asks = [_ask(request, batch) for request in requests]
    decisions = admission.decide_batch(
        asks,
        batch.states,
        batch.quota_rows,
        batch.holdings.active,
        now=batch.now,
        reserved=batch.holdings.reserved,
        stored=batch.holdings.stored,
    )
    started = _batch_write(requests, decisions, batch)
    files = files or {}
    for s in started:
        if s.question is not None and s.index in files:
            attachments.attachments_attach(attachments=files[s.index], message=s.question)
    exchanges = _exchanges_read(started, batch.trees, files)
    outcomes: list[Outcome] = []
    for index, (request, decision) in enumerate(zip(requests, decisions, strict=True)):
        if isinstance(decision, admission.Accept):
            outcomes.append(exchanges[index])
        elif isinstance(decision, admission.Resend):
            resent = batch.earlier[(str(request.conversation_id), decision.client_id)]
            outcomes.append(services.Exchange(user_message=resent, assistant_message=None))
        else:
            outcomes.append(decision)
    return outcomes


def _batch_load(requests: list[ExchangeRequest]) -> _Batch:
    """Read what the rules need, locking the conversations, then the users' quota rows
    (always in that order, and each in key order, so two batches cannot deadlock)."""
    ids = sorted({str(r.conversation_id) for r in requests})
    # The database's clock comes with the lock (one round trip less than on its own).
    locking = Conversation.objects.select_for_update().annotate(db_now=Now())
    locked = list(locking.filter(pk__in=ids).order_by("pk"))
    conversations: dict[str, Conversation] = {str(c.pk): c for c in locked}
    client_ids = {client_id for r in requests if (client_id := r.client_id)}
    # One read for the messages sent before with these client_ids (resends) and the
    # answers streaming (busy, or stale: their process died).
    wanted = Q(status=Message.Status.STREAMING)
    if client_ids:
        wanted |= Q(client_id__in=client_ids)
    found = list(Message.objects.filter(wanted, conversation_id__in=ids))
    earlier = {
        (str(m.conversation_id), m.client_id): m
        for m in found
        if m.client_id is not None and m.client_id in client_ids
    }
    targets = _targets_read(requests, ids)
    # The trees, to continue each conversation's current path (chat/tree.py).
    trees = selectors.conversation_trees(conversation_ids=conversations)
    now = locked[0].db_now if locked else db.database_now()
    live, stale = _streaming_answers(found, now)
    users = {r.user.pk for r in requests}
    quota_rows = quotas.lock(users)
    cutoff = now - liveness.stale_after()
    holdings = holdings_read(users, ids, cutoff)
    states = {
        key: admission.ConversationState(
            id=key,
            owner_id=c.owner_id,
            leaf_id=trees[key].current_leaf(str(c.leaf_id) if c.leaf_id else None),
            live_answer=key in live,
            stale_answer=key in stale,
            client_ids=frozenset(client_id for (k, client_id) in earlier if k == key),
        )
        for key, c in conversations.items()
    }
    return _Batch(conversations, states, earlier, targets, trees, quota_rows, now, holdings)


def _targets_read(requests: list[ExchangeRequest], ids: list[str]) -> dict[str, admission.Target]:
    """The messages the requests edit, regenerate or continue, by id."""
    wanted = {
        pk
        for r in requests
        if r.target_id and (pk := selectors.parse_uuid(r.target_id)) is not None
    }
    if not wanted:  # sends only: no query (not even the ORM's work of building one)
        return {}
    return {
        str(m.pk): admission.Target.of(m)
        for m in Message.objects.filter(conversation_id__in=ids, pk__in=wanted)
    }


def _streaming_answers(found: list[Message], now: datetime) -> tuple[set[str], set[str]]:
    """Of the messages `found`, the conversations with an answer streaming now, and
    those with a stale one (its stream died: not saved for the staleness window before
    `now`, the database's time)."""
    live: set[str] = set()
    stale: set[str] = set()
    window = liveness.stale_after()
    for message in found:
        if message.status != Message.Status.STREAMING:
            continue
        dead = liveness.is_stale(updated=message.updated, now=now, window=window)
        (stale if dead else live).add(str(message.conversation_id))
    return live, stale


def _ask(request: ExchangeRequest, batch: _Batch) -> admission.Ask:
    target = batch.targets.get(str(selectors.parse_uuid(request.target_id)))
    return admission.Ask(
        user_id=request.user.pk,
        conversation_id=str(request.conversation_id),
        kind=request.kind,
        client_id=request.client_id,
        target=target,
        estimate=_estimate(request, target, batch),
    )


def _estimate(request: ExchangeRequest, target: admission.Target | None, batch: _Batch) -> int:
    """The request's reservation (holdings.estimate), with a daily budget; else 0."""
    key = str(request.conversation_id)
    conversation, state = batch.conversations.get(key), batch.states.get(key)
    if not settings.CHAT_DAILY_TOKEN_BUDGET or conversation is None or state is None:
        return 0
    return estimate(
        request.kind,
        question=request.content,
        target=target,
        leaf=state.leaf_id,
        instructions=conversation.instructions,
        tree=batch.trees[key],
        lengths=batch.holdings.lengths,
    )


def _batch_write(
    requests: list[ExchangeRequest], decisions: list[admission.Decision], batch: _Batch
) -> list[_Started]:
    """Write what was decided: the accepted requests' messages (users first: every
    answer is created after its question), the conversations' titles and leaves, the
    quota rows; and sweep the stale answers, even of a refused request."""
    started: list[_Started] = []
    for index, (request, decision) in enumerate(zip(requests, decisions, strict=True)):
        if isinstance(decision, admission.Accept):
            key = str(request.conversation_id)
            question, answer = _messages_new(request, decision, batch.conversations[key])
            if question is not None and request.client_id:
                batch.earlier[(key, request.client_id)] = question
            started.append(_Started(index, request.kind, question, answer))
    for key, state in batch.states.items():
        if state.stale_answer:
            services.messages_sweep_stale(conversation_id=key)
    # One UPDATE per row, pipelined (bulk_update's CASE cost 0.4 ms of CPU per user).
    sends = [[row.recent_sends, row.user_id] for row in batch.quota_rows.values()]
    db.update_rows(UserQuota, ["recent_sends"], "", sends)
    if started:
        # The questions first (one INSERT per row, in this order, pipelined): `created`
        # is set in this order, so each answer is created after its question.
        questions = [s.question for s in started if s.question is not None]
        db.insert_rows([*questions, *(s.answer for s in started)])
        now = timezone.now()
        rows = [
            [s.answer.conversation.title, s.answer.pk, now, s.answer.conversation.pk]
            for s in started
        ]
        db.update_rows(Conversation, ["title", "leaf", "updated"], "", rows)
    return started


def _messages_new(
    request: ExchangeRequest, accept: admission.Accept, conversation: Conversation
) -> tuple[Message | None, Message]:
    """The accepted request's question (if it saves one) and answer, unsaved; the
    conversation's leaf moves to the answer, and a first question names it."""
    parent = accept.parent_id
    question = None
    if accept.saves_question:
        question = Message(
            conversation=conversation,
            parent_id=parent,
            role=Message.Role.USER,
            content=request.content,
            client_id=request.client_id,
        )
        parent = question.pk
        if not conversation.title:
            conversation.title = services.derive_title(request.content)
    answer = Message(
        conversation=conversation,
        parent_id=parent,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        # The conversation's model (one no longer configured: the default).
        model_name=llm.model_display_name(conversation.model),
        content=accept.prefix,  # a continue starts with the old text
        reserved_tokens=accept.reserved,
    )
    conversation.leaf_id = answer.pk
    return question, answer


def _exchanges_read(
    started: list[_Started], trees: dict[str, Tree], files: dict[int, list[Attachment]]
) -> dict[int, services.Exchange]:
    """The started exchanges by request index, with what the model gets for each (its
    path's context, in one query; which question's files go with it) and the new
    messages' siblings."""
    for s in started:
        tree = trees[str(s.answer.conversation_id)]
        if s.question is not None:
            tree.add(str(s.question.pk), str(s.question.parent_id or "") or None)
        tree.add(str(s.answer.pk), str(s.answer.parent_id))
    paths = {
        str(s.answer.conversation_id): trees[str(s.answer.conversation_id)].path(
            str(s.answer.parent_id)
        )
        for s in started
    }
    # A conversation whose path is most of it is read whole (by conversation, not by id).
    whole = {
        key
        for key, path in paths.items()
        if len(trees[key].order) <= min(2 * len(path), selectors.MAX_CONTEXT_MESSAGES)
    }
    contexts = selectors.contexts_for_paths(paths, read_whole=whole) if started else {}
    # A regenerate answers its question again, with its files (one query, if any).
    again = {str(s.answer.parent_id) for s in started if s.kind == Kind.REGENERATE}
    with_files = {s.index: str(s.answer.parent_id) for s in started if s.index in files}
    if again:
        carrying = {
            str(pk)
            for pk in Attachment.objects.filter(message_id__in=again).values_list(
                "message_id", flat=True
            )
        }
        with_files |= {
            s.index: str(s.answer.parent_id)
            for s in started
            if s.kind == Kind.REGENERATE and str(s.answer.parent_id) in carrying
        }
    return {s.index: _exchange(s, trees, contexts, with_files.get(s.index)) for s in started}


def _exchange(
    s: _Started,
    trees: dict[str, Tree],
    contexts: dict[str, list[tuple[str, str]]],
    files_of: str | None,
) -> services.Exchange:
    key = str(s.answer.conversation_id)
    tree = trees[key]
    context = contexts[key]
    if s.kind == Kind.CONTINUE:  # the model is asked to go on from the answer's end
        tail = continue_tail(s.answer.content)
        context = selectors.pick_context(
            reversed([*context, ("assistant", tail), ("user", CONTINUE_PROMPT)])
        )
    if s.question is not None:
        s.question.siblings = tree.siblings(str(s.question.pk))
    s.answer.siblings = tree.siblings(str(s.answer.pk))
    conversation = s.answer.conversation
    return services.Exchange(
        user_message=s.question,
        assistant_message=s.answer,
        context=context,
        model_key=llm.resolve_model_or_default(conversation.model).key,
        instructions=conversation.instructions,
        temperature=conversation.temperature,
        files_of=files_of,
    )


def start_alone(request: ExchangeRequest) -> services.Exchange:
    """One exchange in a transaction of its own; raises the exception that refuses it."""
    (outcome,) = exchanges_start([request])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _start_alone_or_failure(request: ExchangeRequest) -> Outcome:
    try:
        return start_alone(request)
    except Exception as exc:
        return exc


def exchanges_start_or_each(requests: list[ExchangeRequest]) -> list[Outcome]:
    """The batch in one transaction; if that fails as a whole, each on its own."""
    if len(requests) > 1:
        try:
            return exchanges_start(requests)
        except Exception:
            logger.warning(
                "a batch of %d exchanges failed; starting each alone",
                len(requests),
                exc_info=True,
            )
    return [_start_alone_or_failure(request) for request in requests]


_exchanges: db.GroupCall[ExchangeRequest, services.Exchange] = db.GroupCall(
    exchanges_start_or_each, name="exchange-batches", max_batch=MAX_BATCH
)


def exchange_submit(request: ExchangeRequest) -> asyncio.Future[services.Exchange]:
    """Start an exchange, batched with the others of this event loop: its outcome, or
    the exception that refuses it (see `exchanges_start`), as a future."""
    return _exchanges.submit(request)


async def exchange_start(request: ExchangeRequest) -> services.Exchange:
    """`exchange_submit`, awaited: the exchange, or the exception that refuses it."""
    return await exchange_submit(request)


def exchange_answer_options(
    exchange: services.Exchange, *, user_id: int, limits: llm.AnswerLimits = llm.NO_LIMITS
) -> AnswerOptions:
    """What the answer an exchange started is made with (registry.start_generation)."""
    answer = exchange.assistant_message
    assert answer is not None
    return {
        "model_name": answer.model_name,
        "context": exchange.context,
        "user_id": user_id,
        "prefix": answer.content,
        "parent_id": str(answer.parent_id),
        "siblings": answer.siblings,
        "model_key": exchange.model_key,
        "instructions": exchange.instructions,
        "temperature": exchange.temperature,
        "limits": limits,
        "files_of": exchange.files_of,
    }
