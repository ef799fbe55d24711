"""One assistant answer: stream it from the model, relay it, save it.

The answer runs as its own asyncio task (started by registry.py), not inside a
consumer: closing the tab that asked does not lose it. `Generation` streams the
model's deltas into the answer's text (text.py); its parts do the rest: the pump and
the relay send them to the conversation's group with their character offset
(relay.py), so each connection can drop what it already has and notice what it
missed; the control listener lets any process stop the answer or ask for the text so
far (control.py); the finish saves, counts, announces and titles it, and has a long conversation
summarised (finish.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from contextlib import aclosing
from dataclasses import asdict
from typing import Any, Required, TypedDict

from channels.layers import BaseChannelLayer
from django.conf import settings
from django.utils.translation import gettext_noop

from chat import contract
from chat.conversations import attachments, selectors
from chat.db import db_call
from chat.errors import INTERRUPTED_ERROR, ErrorCode
from chat.models import Message
from chat.provider import llm
from chat.provider.llm import (
    NO_LIMITS,
    AnswerLimits,
    Finish,
    Usage,
    describe_failure,
    stream_answer,
)
from chat.provider.reach import unreachable
from chat.streaming.answer import finish
from chat.streaming.answer.control import ControlListener
from chat.streaming.answer.finish import Outcome
from chat.streaming.answer.progress import progress_saver
from chat.streaming.answer.relay import DeltaPump, Relay
from chat.streaming.answer.text import AnswerText
from chat.streaming.delivery.layers import channel_layer
from chat.telemetry import metrics

logger = logging.getLogger(__name__)

RELAY_ERROR = gettext_noop(
    "The answer could not be relayed: the server's message bus is unavailable."
)


class AnswerOptions(TypedDict, total=False):
    """`Generation`'s arguments besides its conversation and message."""

    model_name: Required[str]
    context: list[tuple[str, str]] | None
    user_id: int | None
    prefix: str
    parent_id: str | None
    siblings: list[str] | None
    model_key: str | None
    instructions: str
    temperature: float | None
    limits: AnswerLimits
    files_of: str | None  # the question whose attached files the model is sent


class Generation:
    """Streams one answer and is the only writer of its message until it ends.

    `context` is what the model receives (read with the exchange); None reads it.
    `user_id`: who asked (logged, and charged the tokens). `prefix`: the text the answer starts with
    (a continuation's); `parent_id` and `siblings` (its place in the tree) go out
    with its start. `model_key`, `instructions`, `temperature`: the conversation's
    (chat/llm.py); `limits`: what an API client asked of this answer."""

    def __init__(self, conversation_id: str, message_id: str, options: AnswerOptions) -> None:
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.model_name = options["model_name"]
        self.context = options.get("context")
        self.files_of = options.get("files_of")
        self.user_id = options.get("user_id")
        self.parent_id = options.get("parent_id")
        self.siblings = options.get("siblings") or [message_id]
        self.model_key = options.get("model_key")
        self.instructions = options.get("instructions", "")
        self.temperature = options.get("temperature")
        self.limits = options.get("limits") or NO_LIMITS
        prefix = options.get("prefix", "")
        self.layer: BaseChannelLayer = channel_layer()
        self.relay = Relay(self.layer, conversation_id)
        self._answer = AnswerText(prefix)
        self._pump = DeltaPump(self.relay, message_id, offset=len(prefix))
        self.control = ControlListener(
            self.layer,
            relay=self.relay,
            answer=self._answer,
            conversation_id=conversation_id,
            message_id=message_id,
            stop=self.stop,
        )
        self._stop_requested = False
        self._stream_task: asyncio.Task[None] | None = None  # the model stream
        self._started = 0.0
        self.ttft_ms: int | None = None
        self.usage: dict[str, int] | None = None
        self.finish_reason = ""

    @property
    def text(self) -> str:
        return self._answer.text

    @property
    def length(self) -> int:
        return self._answer.length

    async def run(self) -> None:
        """Stream, relay and save the answer; whatever fails, it ends saved and announced."""
        self._started = time.monotonic()
        outcome = Outcome(Message.Status.COMPLETE)
        relaying = False
        try:
            # The control group first: a `stop` sent right behind the message (the same
            # tab's next frame) must find the answer listening. The group's membership
            # goes to Redis in this task's first step, before that frame is read
            # (layers.join_new_channel); a stop arriving before the model request goes
            # out means it never goes out. Then the request to the model, and the start
            # is announced while it is on its way; deltas wait in the pump until it
            # starts, after `chat.start`.
            await self.control.open()
            self._stream_task = self._task(self._stream(), "stream")
            if self._stop_requested:  # stopped while it joined: no request goes out
                self._stream_task.cancel()
            progress_saver().track(self, saved=self._answer.prefix_length)
            # Announced or failed: an answer nobody can hear of (Redis down or stalled
            # past its read timeout) ends `unavailable` instead of streaming unseen.
            await self.relay.publish(
                contract.chat_start(
                    self.message_id,
                    self.model_name,
                    parent_id=self.parent_id,
                    siblings=self.siblings,
                    offset=self._answer.prefix_length,
                )
            )
            self._pump.start()
            relaying = True
            await self._stream_task
        except asyncio.CancelledError:
            outcome = self._cancelled()
        except Exception as exc:
            outcome = self._failed(exc, relaying)
        finally:
            if self._stream_task is not None:
                self._stream_task.cancel()
                if self._stream_task.done() and not self._stream_task.cancelled():
                    self._stream_task.exception()  # seen: reported above, or moot
            await asyncio.shield(self._finish(outcome))

    def stop(self) -> None:
        """End the answer as `stopped`, whatever it is doing: before the model request
        goes out (it never does), while it waits for the first token, mid-stream.
        Cancelling the stream closes the model's HTTP stream."""
        self._stop_requested = True
        if self._stream_task is not None:  # else `run` has not got that far: it checks
            self._stream_task.cancel()

    def _cancelled(self) -> Outcome:
        """The outcome of `run` cancelled: by `stop`, or by the process shutting down."""
        if self._stop_requested and not _cancelling():
            return Outcome(Message.Status.STOPPED)
        return Outcome(Message.Status.ERROR, ErrorCode.INTERRUPTED, INTERRUPTED_ERROR)

    def _failed(self, exc: Exception, relaying: bool) -> Outcome:
        """The outcome of `run` failed: the model's failure, once the answer is relayed;
        before that, the channel layer's."""
        if not relaying:
            logger.warning("answer %s failed: %r", self.message_id, exc, exc_info=exc)
            return Outcome(Message.Status.ERROR, ErrorCode.UNAVAILABLE, RELAY_ERROR)
        if (server := unreachable(exc)) is not None:
            # A wrong address is a setting, not a bug: one line (the traceback at DEBUG).
            traceback = exc if logger.isEnabledFor(logging.DEBUG) else None
            logger.warning(
                "answer %s failed: %s", self.message_id, server.log_line(), exc_info=traceback
            )
        else:
            logger.warning("answer %s failed: %r", self.message_id, exc, exc_info=exc)
        code, error = describe_failure(exc, mid_answer=self.ttft_ms is not None)
        return Outcome(Message.Status.ERROR, code, error)

    def _task(self, coroutine: Coroutine[Any, Any, None], role: str) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(
            coroutine, name=f"answer-{self.message_id}-{role}"
        )

    async def _stream(self) -> None:
        if self.context is None:
            read = db_call(selectors.model_context)
            self.context = await read(assistant_message_id=self.message_id)
        context = self.context
        parts = None
        if self.files_of:
            read_files = db_call(attachments.model_parts)
            parts = await read_files(
                message_id=self.files_of, images=llm.takes_images(self.model_key)
            )
        stream = stream_answer(
            context,
            model_key=self.model_key,
            instructions=self.instructions,
            temperature=self.temperature,
            limits=self.limits,
            # A regenerate's place among its siblings (the demo model words it anew).
            attempt=self.siblings.index(self.message_id) if self.message_id in self.siblings else 0,
            parts=parts,
        )
        # Closed on leaving, so an answer stopped at its longest closes the model's stream.
        async with asyncio.timeout(settings.LLM_MAX_ANSWER_SECONDS), aclosing(stream):
            # One stream, no callbacks: a token callback too would deliver every delta twice.
            async for item in stream:
                if isinstance(item, Usage):
                    self.usage = asdict(item)
                elif isinstance(item, Finish):
                    self.finish_reason = item.reason[:32]
                else:
                    self._append(item)
                    if self._answer.length >= settings.CHAT_MAX_ANSWER_CHARS:
                        self.finish_reason = "length"  # as the model's own cap says
                        return

    def _append(self, text: str) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = round((time.monotonic() - self._started) * 1000)
        metrics.TOKENS_RELAYED.inc()
        self._answer.append(text)
        self._pump.push(text)

    async def _finish(self, outcome: Outcome) -> None:
        """Flush the pending deltas, count the tokens, save the final state, then tell
        every tab, leave the control group and have the conversation titled; the save
        comes first so a tab that misses deltas can read the rest from the database."""
        progress_saver().untrack(self.message_id)
        await self._pump.close()
        ended = self._ended()
        # Charged before the save ends its reservation: never counted neither way.
        await finish.charge(ended)
        outcome = await finish.save(ended, outcome)
        finish.record(ended, outcome)
        # Scheduled before chat.end goes out, so whoever reads the end (a test, the
        # bench) and then settles the summaries finds this one among them.
        finish.summarise(ended, outcome)
        await finish.announce(ended, outcome, self.relay)
        await self.control.close()
        finish.title(ended, outcome, self.relay)

    def _ended(self) -> finish.Ended:
        return finish.Ended(
            conversation_id=self.conversation_id,
            message_id=self.message_id,
            user_id=self.user_id,
            model_name=self.model_name,
            model_key=self.model_key,
            context=self.context,
            instructions=self.instructions,
            text=self._answer.text,
            prefix_length=self._answer.prefix_length,
            ttft_ms=self.ttft_ms,
            duration_ms=round((time.monotonic() - self._started) * 1000),
            usage=self.usage,
            finish_reason=self.finish_reason,
        )


def _cancelling() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0
