"""Starting answers: the rules, and many starts in one transaction (group commit).

When many users send at the same moment, each exchange costs about ten statements
and their ORM work, one after another under the GIL: the hundredth user waited half
a second for the model call. The batcher sends the first request of a quiet moment
to the database at once (no added delay), and whatever arrives while a batch is in
the database goes together in the next one: a few statements per batch instead of
ten per exchange. `exchanges_start` is the one home of the rules for starting an
answer; if a batch fails as a whole (a deadlock, a constraint race with another
process), each of its requests runs again as a batch of its own, so a request never
fails for another's sake.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Count
from django.utils import timezone

from chat import contract, db
from chat.conversations import quotas, selectors, serializers, services
from chat.db import db_call
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation, Message, UserQuota
from chat.provider import llm
from chat.streaming.answer import draining
from chat.streaming.answer.registry import start_generation

logger = logging.getLogger(__name__)

MAX_BATCH = 200
DATABASE_DOWN = "The database is unavailable for a moment; your message was not saved. Try again."


class Kind(StrEnum):
    """What a request asks for: a new question at the end of the current path, or a
    branch (chat/tree.py): an edited question, another answer to the same question,
    or the continuation of a cut-off answer (a new version that starts with its text)."""

    SEND = "send"
    EDIT = "edit"
    REGENERATE = "regenerate"
    CONTINUE = "continue"


@dataclass
class ExchangeRequest:
    user: Any
    conversation_id: Any
    content: str
    client_id: str | None
    kind: Kind = Kind.SEND
    target_id: Any = None  # the message edited, regenerated or continued


NO_SUCH_MESSAGE = Refusal(ErrorCode.NOT_FOUND, "No such message here.")


def refuse_target(kind: Kind, target: Message | None, leaf: Any) -> Refusal | None:
    """Why `target` cannot be the message of a `kind` request (None: it can). `leaf`
    is the id of the last message of the conversation's current path."""
    if kind == Kind.SEND:
        return None
    if target is None:
        return NO_SUCH_MESSAGE
    if kind == Kind.EDIT and target.role != Message.Role.USER:
        return Refusal(ErrorCode.BAD_FRAME, "Only your own messages can be edited.")
    if kind in (Kind.REGENERATE, Kind.CONTINUE) and (
        target.role != Message.Role.ASSISTANT or target.parent_id is None
    ):
        return Refusal(ErrorCode.BAD_FRAME, "Only an answer can be regenerated or continued.")
    if kind == Kind.CONTINUE and not (
        str(target.pk) == str(leaf)
        and target.content
        and (
            target.status in (Message.Status.STOPPED, Message.Status.ERROR)
            or target.finish_reason == "length"
        )
    ):
        return Refusal(
            ErrorCode.BAD_FRAME,
            "Only the last answer, stopped or cut off before its end, can be continued.",
        )
    return None


Outcome = services.Exchange | Exception


@transaction.atomic
def exchanges_start(requests: list[ExchangeRequest]) -> list[Outcome]:
    """Save each request's user message and the `streaming` answer that will follow
    it, and read what the model gets for it, in one transaction: one outcome per
    request, an Exchange or the exception that refuses it (DoesNotExist: not the
    user's conversation; a Refusal: busy, rate limited, over quota, not branchable). A
    `client_id` seen before in the conversation is a resend: the earlier message, no
    new answer.

    The conversations are locked, so two processes cannot start two answers at once."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    ids = sorted({str(r.conversation_id) for r in requests})
    # Locked in one order, so two batches (or processes) cannot deadlock on them.
    conversations = {
        str(c.pk): c
        for c in Conversation.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    earlier = {
        (str(m.conversation_id), m.client_id): m
        for m in Message.objects.filter(
            conversation_id__in=ids,
            client_id__in={r.client_id for r in requests if r.client_id},
        )
    }
    wanted = {selectors.parse_uuid(r.target_id) for r in requests if r.target_id} - {None}
    targets = {str(m.pk): m for m in Message.objects.filter(conversation_id__in=ids, pk__in=wanted)}
    # The trees, to continue each conversation's current path (chat/tree.py).
    trees = selectors.conversation_trees(conversation_ids=conversations)
    leaves = {
        key: trees[key].current_leaf(str(c.leaf_id) if c.leaf_id else None)
        for key, c in conversations.items()
    }
    cutoff = timezone.now() - timedelta(seconds=settings.CHAT_STALE_STREAM_SECONDS)
    live: set[str] = set()
    stale: set[str] = set()
    for conversation_id, updated in Message.objects.filter(
        conversation_id__in=ids, status=Message.Status.STREAMING
    ).values_list("conversation_id", "updated"):
        (live if updated >= cutoff else stale).add(str(conversation_id))
    # The users' limits: their quota rows locked after the conversations (one order).
    users = {r.user.pk for r in requests}
    limits = quotas.lock(users)
    active = _active_answers(users, cutoff)
    now = timezone.now()
    accepted: list[tuple[int, Kind, Message | None, Message]] = []
    for index, request in enumerate(requests):
        key = str(request.conversation_id)
        conversation = conversations.get(key)
        if conversation is None or conversation.owner_id != request.user.pk:
            outcomes[index] = Conversation.DoesNotExist()
            continue
        if request.client_id and (key, request.client_id) in earlier:
            resent = earlier[(key, request.client_id)]
            outcomes[index] = services.Exchange(user_message=resent, assistant_message=None)
            continue
        if key in live:
            outcomes[index] = quotas.ConversationBusy()
            continue
        target = targets.get(str(selectors.parse_uuid(request.target_id)))
        if target is not None and str(target.conversation_id) != key:
            target = None
        problem = refuse_target(request.kind, target, leaves.get(key))
        if problem is not None:
            outcomes[index] = problem
            continue
        refusal = quotas.admit(limits[request.user.pk], active=active[request.user.pk], now=now)
        if refusal is not None:
            outcomes[index] = refusal
            continue
        active[request.user.pk] += 1
        live.add(key)  # a second request for it in this batch is busy
        user_message = None
        if request.kind == Kind.SEND:
            parent = leaves.get(key)
        else:
            assert target is not None
            parent = target.parent_id
        if request.kind in (Kind.SEND, Kind.EDIT):
            user_message = Message(
                conversation=conversation,
                parent_id=parent,
                role=Message.Role.USER,
                content=request.content,
                client_id=request.client_id,
            )
            if request.client_id:
                earlier[(key, request.client_id)] = user_message
            parent = user_message.pk
            if not conversation.title:
                conversation.title = services.derive_title(request.content)
        answer = Message(
            conversation=conversation,
            parent_id=parent,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            # The conversation's model (one no longer configured: the default).
            model_name=llm.model_display_name(conversation.model),
        )
        if request.kind == Kind.CONTINUE:
            assert target is not None
            answer.content = target.content  # the new version starts with the old text
        accepted.append((index, request.kind, user_message, answer))
        conversation.leaf_id = answer.pk
    for conversation_id in stale:
        services.messages_sweep_stale(conversation_id=conversation_id)
    UserQuota.objects.bulk_update(limits.values(), ["recent_sends"])
    if accepted:
        # Two statements, users first: every answer is created after its question.
        Message.objects.bulk_create([user for _, _, user, _ in accepted if user is not None])
        Message.objects.bulk_create([answer for _, _, _, answer in accepted])
        now = timezone.now()
        db.update_rows(
            Conversation,
            ["title", "leaf", "updated"],
            "",
            [
                [answer.conversation.title, answer.pk, now, answer.conversation.pk]
                for _, _, _, answer in accepted
            ],
        )
        for _, _, user_message, answer in accepted:
            tree = trees[str(answer.conversation_id)]
            if user_message is not None:
                tree.add(str(user_message.pk), str(user_message.parent_id or "") or None)
            tree.add(str(answer.pk), str(answer.parent_id))
        paths = {
            str(answer.conversation_id): trees[str(answer.conversation_id)].path(
                str(answer.parent_id)
            )
            for _, _, _, answer in accepted
        }
        contexts = selectors.contexts_for_paths(paths)
    for index, kind, user_message, answer in accepted:
        key = str(answer.conversation_id)
        tree = trees[key]
        context = contexts[key]
        if kind == Kind.CONTINUE:  # the model is asked to go on from the answer's text
            context = selectors.pick_context(
                reversed([*context, ("assistant", answer.content), ("user", CONTINUE_PROMPT)])
            )
        if user_message is not None:
            user_message.siblings = tree.siblings(str(user_message.pk))
        answer.siblings = tree.siblings(str(answer.pk))
        conversation = answer.conversation
        outcomes[index] = services.Exchange(
            user_message=user_message,
            assistant_message=answer,
            context=context,
            model_key=llm.resolve_model_or_default(conversation.model).key,
            instructions=conversation.instructions,
            temperature=conversation.temperature,
        )
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


CONTINUE_PROMPT = "Continue your last answer exactly where it stopped, without repeating any of it."


def _active_answers(users: set[int], cutoff: Any) -> Counter[int]:
    """How many answers each user has streaming now (a stale one does not count)."""
    return Counter(
        dict(
            Message.objects.filter(
                conversation__owner__in=users,
                status=Message.Status.STREAMING,
                updated__gte=cutoff,
            )
            .values_list("conversation__owner")
            .annotate(n=Count("pk"))
            .values_list("conversation__owner", "n")
        )
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


@dataclass
class _Pending:
    request: ExchangeRequest
    future: asyncio.Future[services.Exchange] = field(repr=False)


class ExchangeBatcher:
    """Group commit for one event loop: at most one batch in the database at a time,
    and every request that arrives meanwhile goes in the next one."""

    def __init__(self) -> None:
        self._queue: list[_Pending] = []
        self._task: asyncio.Task[None] | None = None  # referenced: asyncio keeps weak ones

    async def start(self, request: ExchangeRequest) -> services.Exchange:
        future: asyncio.Future[services.Exchange] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(request, future))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._drain(), name="exchange-batches"
            )
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    outcomes = await db_call(exchanges_start_or_each)(
                        [pending.request for pending in batch]
                    )
                except Exception as exc:  # the database is unreachable: every one fails
                    outcomes = [exc] * len(batch)
                for pending, outcome in zip(batch, outcomes, strict=True):
                    if pending.future.done():  # the consumer went away
                        continue
                    if isinstance(outcome, Exception):
                        pending.future.set_exception(outcome)
                    else:
                        pending.future.set_result(outcome)
        finally:
            self._task = None


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ExchangeBatcher] = (
    weakref.WeakKeyDictionary()
)


async def exchange_start(request: ExchangeRequest) -> services.Exchange:
    """Start an exchange, batched with the others of this event loop; raises the
    exception that refuses it (see `exchanges_start`)."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = ExchangeBatcher()
    return await batcher.start(request)


@dataclass
class Posted:
    """What `post_message` did: the `message` frame; whether the conversation's
    subscribers were sent it (if not, the sender shows it itself: a resend, or the
    channel layer failed); and the answer started for it, if any."""

    frame: dict[str, Any] | None  # None: no question was saved (regenerate, continue)
    announced: bool
    answer_id: str | None = None
    model: str = ""  # the model that writes the answer


async def post_message(request: ExchangeRequest) -> Posted:
    """Save a user message and start its answer (it runs even if the channel layer
    could not announce the message). Raises Refusal with the reason for a refusal."""
    if draining.draining():
        retry_after = draining.RETRY_AFTER_SECONDS
        raise Refusal(ErrorCode.UNAVAILABLE, draining.SHUTTING_DOWN, retry_after=retry_after)
    try:
        exchange = await exchange_start(request)
    except Conversation.DoesNotExist:
        raise Refusal(ErrorCode.NOT_FOUND, "This conversation no longer exists.") from None
    except (OperationalError, InterfaceError):
        logger.warning("message not saved: the database is unavailable", exc_info=True)
        raise Refusal(ErrorCode.UNAVAILABLE, DATABASE_DOWN, retry_after=5) from None
    question = exchange.user_message
    frame = None
    if question is not None:
        frame = {"type": "message", **serializers.message_to_dict(question)}
    answer = exchange.assistant_message
    if answer is None:  # a resend of a message already saved
        return Posted(frame, announced=False)
    announced = True
    if frame is not None:
        try:
            group = contract.conversation_group(request.conversation_id)
            await get_channel_layer().group_send(group, contract.chat_message(frame))
        except Exception:
            logger.warning("could not announce message %s", frame["id"], exc_info=True)
            announced = False
    start_generation(
        conversation_id=request.conversation_id,
        message_id=answer.pk,
        model_name=answer.model_name,
        context=exchange.context,
        user_id=request.user.pk,
        prefix=answer.content,
        parent_id=str(answer.parent_id),
        siblings=answer.siblings,
        model_key=exchange.model_key,
        instructions=exchange.instructions,
        temperature=exchange.temperature,
    )
    return Posted(frame, announced, answer_id=str(answer.pk), model=answer.model_name)
