"""Posting a message and starting its answer, the same for every door.

`post` admits the request (draining, then every limit, before anything is written:
exchanges.py), saves the question and the `streaming` answer, announces the question
to the conversation's subscribers and starts the answer. Once begun it is finished
even if the door's caller goes away meanwhile (an HTTP client that disconnects, a
socket that closes): a half-started answer would stay `streaming` with nothing
writing it, holding the conversation and one of the user's answer slots until the
stale sweep. What a departure then means for the answer is the door's `OnLeave`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext_lazy as _

from chat import contract
from chat.conversations import serializers
from chat.conversations.services import Exchange
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation
from chat.streaming.answer import draining
from chat.streaming.answer.exchanges import (
    ExchangeRequest,
    exchange_answer_options,
    exchange_submit,
)
from chat.streaming.answer.registry import start_generation, stop_here
from chat.streaming.delivery import local
from chat.streaming.delivery.frames import Frame
from chat.streaming.delivery.layers import channel_layer
from chat.telemetry import startpath

logger = logging.getLogger(__name__)

# Called as each answer of this process starts (conversation id, answer id), before its
# first event: a follower that needs no door open (webhooks) joins here. Never waits.
AnswerHook = Callable[[str, str], None]
_answer_hooks: list[AnswerHook] = []

DATABASE_DOWN = _(
    "The database is unavailable for a moment; your message was not saved. Try again."
)
GONE = _("This conversation no longer exists.")


class OnLeave(StrEnum):
    """What it means for an answer when the door that asked for it goes away."""

    KEEP = "keep"  # it goes on: a tab reloads or a stream resumes and sees it (WebSocket, SSE)
    STOP = "stop"  # nobody can read it again: it ends `stopped` (/v1)


@dataclass
class Posted:
    """What `post` did: the `message` frame; whether the conversation's subscribers
    were sent it (if not, the sender shows it itself: a resend, or the channel layer
    failed); and the answer started for it, if any."""

    frame: Frame | None  # None: no question was saved (regenerate, continue)
    announced: bool
    answer_id: str | None = None
    model: str = ""  # the model that writes the answer


async def post(request: ExchangeRequest, *, on_leave: OnLeave = OnLeave.KEEP) -> Posted:
    """Save a user message and start its answer (it runs even if the channel layer
    could not announce the message). Raises Refusal with the reason for a refusal.
    Cancelling the caller does not cancel the start; `on_leave` then applies."""
    if draining.draining():
        retry_after = draining.RETRY_AFTER_SECONDS
        raise Refusal(ErrorCode.UNAVAILABLE, draining.SHUTTING_DOWN, retry_after=retry_after)
    started = exchange_submit(request)
    try:
        exchange = await asyncio.shield(started)
    except asyncio.CancelledError:  # the batch goes on: finish the start when it is in
        started.add_done_callback(functools.partial(_abandoned, request, on_leave))
        raise
    except Conversation.DoesNotExist:
        raise Refusal(ErrorCode.NOT_FOUND, GONE) from None
    except (OperationalError, InterfaceError):
        logger.warning("message not saved: the database is unavailable", exc_info=True)
        raise Refusal(ErrorCode.UNAVAILABLE, DATABASE_DOWN, retry_after=5) from None
    startpath.phase("exchange")
    return _begin(request, exchange)


def unannounced_start(posted: Posted) -> contract.ChatStart | None:
    """The answer's `chat.start` for its poster to feed its own subscriber when the
    channel layer never announced it: following the saved answer from there, the
    subscriber's watchdog ends it from its row instead of waiting on a silent bus."""
    if posted.announced or posted.answer_id is None:
        return None
    return contract.chat_start(posted.answer_id, posted.model)


def _abandoned(
    request: ExchangeRequest, on_leave: OnLeave, started: asyncio.Future[Exchange]
) -> None:
    """The caller left while its exchange was in the database: start its answer all
    the same (a `streaming` answer with nothing writing it would hold the conversation
    and one of the user's answer slots), and stop it if nobody can read it."""
    if started.cancelled() or started.exception() is not None:
        return
    posted = _begin(request, started.result())
    if on_leave is OnLeave.STOP and posted.answer_id is not None:
        stop_here(request.conversation_id)


def _begin(request: ExchangeRequest, exchange: Exchange) -> Posted:
    """Announce the saved question and start its answer, in one step (nothing here
    waits, so nothing can stop between the two)."""
    question = exchange.user_message
    frame: Frame | None = None
    if question is not None:
        frame = {"type": "message", **serializers.message_to_dict(question)}
    answer = exchange.assistant_message
    if answer is None:  # a resend of a message already saved
        return Posted(frame, announced=False)
    announced = frame is None or _announce(request.conversation_id, frame)
    _answer_starts(str(request.conversation_id), str(answer.pk))
    start_generation(
        conversation_id=request.conversation_id,
        message_id=answer.pk,
        **exchange_answer_options(exchange, user_id=request.user.pk, limits=request.limits),
    )
    return Posted(frame, announced, answer_id=str(answer.pk), model=answer.model_name)


def on_answer_start(hook: AnswerHook) -> None:
    """Call `hook` as each answer of this process starts (once per hook)."""
    if hook not in _answer_hooks:
        _answer_hooks.append(hook)


def _answer_starts(conversation_id: str, answer_id: str) -> None:
    for hook in _answer_hooks:
        try:
            hook(conversation_id, answer_id)
        except Exception:  # a follower's failure never stops an answer
            logger.exception("answer hook %r failed", hook)


def _announce(conversation_id: UUID | str, frame: Frame) -> bool:
    """Send the question to the conversation's subscribers: this process's at once,
    the others' through the channel layer in the background (delivery/local.py).
    False when none here had it (the poster then shows it itself)."""
    group = contract.conversation_group(conversation_id)
    return local.group_send(channel_layer(), group, dict(contract.chat_message(frame))) > 0
