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
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Count
from django.utils import timezone

from . import contract, db, quotas, selectors, serializers, services, shutdown
from .contract import ErrorCode
from .db import db_call
from .generation import start_generation
from .models import Conversation, Message, UserQuota
from .protocol import FrameError

logger = logging.getLogger(__name__)

MAX_BATCH = 200
DATABASE_DOWN = "The database is unavailable for a moment; your message was not saved. Try again."


@dataclass
class ExchangeRequest:
    user: Any
    conversation_id: Any
    content: str
    client_id: str | None
    model_name: str


Outcome = services.Exchange | Exception


@transaction.atomic
def exchanges_start(requests: list[ExchangeRequest]) -> list[Outcome]:
    """Save each request's user message and the `streaming` answer that will follow
    it, and read what the model gets for it, in one transaction: one outcome per
    request, an Exchange or the exception that refuses it (DoesNotExist: not the
    user's conversation; a quotas.Refused: busy, rate limited, over quota). A
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
    accepted: list[tuple[int, Message, Message]] = []
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
        refusal = quotas.admit(limits[request.user.pk], active=active[request.user.pk], now=now)
        if refusal is not None:
            outcomes[index] = refusal
            continue
        active[request.user.pk] += 1
        live.add(key)  # a second request for it in this batch is busy
        user_message = Message(
            conversation=conversation,
            role=Message.Role.USER,
            content=request.content,
            client_id=request.client_id,
        )
        if request.client_id:
            earlier[(key, request.client_id)] = user_message
        answer = Message(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            model_name=request.model_name,
        )
        accepted.append((index, user_message, answer))
        if not conversation.title:
            conversation.title = services.derive_title(request.content)
    for conversation_id in stale:
        services.messages_sweep_stale(conversation_id=conversation_id)
    UserQuota.objects.bulk_update(limits.values(), ["recent_sends"])
    if accepted:
        # Two statements, users first: every answer is created after its question.
        Message.objects.bulk_create([user for _, user, _ in accepted])
        Message.objects.bulk_create([answer for _, _, answer in accepted])
        now = timezone.now()
        db.update_rows(
            Conversation,
            ["title", "updated"],
            "",
            [[user.conversation.title, now, user.conversation.pk] for _, user, _ in accepted],
        )
        contexts = selectors.contexts_latest([user.conversation_id for _, user, _ in accepted])
    for index, user_message, answer in accepted:
        outcomes[index] = services.Exchange(
            user_message=user_message,
            assistant_message=answer,
            context=contexts[str(answer.conversation_id)],
        )
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


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

    frame: dict[str, Any]
    announced: bool
    answer_id: str | None = None


async def post_message(request: ExchangeRequest) -> Posted:
    """Save a user message and start its answer (it runs even if the channel layer
    could not announce the message). Raises FrameError with the reason for a refusal."""
    if shutdown.draining():
        retry_after = shutdown.RETRY_AFTER_SECONDS
        raise FrameError(ErrorCode.UNAVAILABLE, shutdown.SHUTTING_DOWN, retry_after=retry_after)
    try:
        exchange = await exchange_start(request)
    except quotas.Refused as exc:
        raise FrameError(exc.code, exc.message, retry_after=exc.retry_after) from None
    except Conversation.DoesNotExist:
        raise FrameError(ErrorCode.NOT_FOUND, "This conversation no longer exists.") from None
    except (OperationalError, InterfaceError):
        logger.warning("message not saved: the database is unavailable", exc_info=True)
        raise FrameError(ErrorCode.UNAVAILABLE, DATABASE_DOWN, retry_after=5) from None
    frame = {"type": "message", **serializers.message_to_dict(exchange.user_message)}
    answer = exchange.assistant_message
    if answer is None:  # a resend of a message already saved
        return Posted(frame, announced=False)
    announced = True
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
    )
    return Posted(frame, announced, answer_id=str(answer.pk))
