"""One assistant answer: stream it from the model, relay it, save it.

The answer runs as its own asyncio task (started by registry.py), not inside a
consumer: closing the tab that asked does not lose it. Deltas go to the
conversation's group with their character offset, so each connection can drop what
it already has and notice what it missed. A control group lets any process reach the
task: `stop` cancels it and `sync` asks for the text so far (a tab that joins
mid-answer, or one that saw a gap).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Coroutine
from dataclasses import asdict
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings

from chat import contract
from chat.conversations import quotas, selectors, services
from chat.db import db_call
from chat.errors import INTERRUPTED_ERROR, ErrorCode
from chat.models import Message
from chat.provider.llm import Finish, Usage, describe_failure, stream_answer
from chat.streaming.answer import titles
from chat.streaming.answer.control import ControlListener
from chat.streaming.answer.progress import progress_saver
from chat.streaming.answer.relay import DeltaPump, Relay
from chat.streaming.answer.retry import retrying
from chat.streaming.answer.text import AnswerText
from chat.telemetry import log_events as events
from chat.telemetry import metrics

logger = logging.getLogger(__name__)

RELAY_ERROR = "The answer could not be relayed: the server's message bus is unavailable."
SAVE_ERROR = "The answer could not be saved: the database is unavailable."
# After CHAT_FINAL_SAVE_SECONDS the tabs are told the answer failed; its text is still
# saved (as that error) if the database returns within this many times as long.
LATE_SAVE_FACTOR = 10


class Generation:
    """Streams one answer and is the only writer of its message until it ends.

    `context` is what the model receives (read with the exchange); None reads it.
    `user_id` (who asked) is only logged. `prefix`: the text the answer starts with
    (a continuation's); `parent_id` and `siblings` (its place in the tree) go out
    with its start. `model_key`, `instructions`, `temperature`: the conversation's
    (chat/llm.py)."""

    def __init__(
        self,
        *,
        conversation_id: str,
        message_id: str,
        model_name: str,
        context: list[tuple[str, str]] | None = None,
        user_id: Any = None,
        prefix: str = "",
        parent_id: str | None = None,
        siblings: list[str] | None = None,
        model_key: str | None = None,
        instructions: str = "",
        temperature: float | None = None,
    ) -> None:
        self.conversation_id = conversation_id
        self.model_key = model_key
        self.instructions = instructions
        self.temperature = temperature
        self.parent_id = parent_id
        self.siblings = siblings or [message_id]
        self.user_id = user_id
        self.message_id = message_id
        self.model_name = model_name
        self.context = context
        self.layer: BaseChannelLayer = get_channel_layer()
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
        status, code, error = Message.Status.COMPLETE, "", ""
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
            progress_saver().track(self)
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
            if self._stop_requested and not _cancelling():
                status = Message.Status.STOPPED
            else:  # the process is shutting down
                status, code = Message.Status.ERROR, ErrorCode.INTERRUPTED
                error = INTERRUPTED_ERROR
        except Exception as exc:
            status = Message.Status.ERROR
            if relaying:
                code, error = describe_failure(exc, mid_answer=self.ttft_ms is not None)
            else:  # the channel layer failed before the answer could be relayed
                code, error = ErrorCode.UNAVAILABLE, RELAY_ERROR
            logger.warning("answer %s failed: %r", self.message_id, exc, exc_info=exc)
        finally:
            if self._stream_task is not None:
                self._stream_task.cancel()
                if self._stream_task.done() and not self._stream_task.cancelled():
                    self._stream_task.exception()  # seen: reported above, or moot
            await asyncio.shield(self._finish(status, code, error))

    def stop(self) -> None:
        """End the answer as `stopped`, whatever it is doing: before the model request
        goes out (it never does), while it waits for the first token, mid-stream.
        Cancelling the stream closes the model's HTTP stream."""
        self._stop_requested = True
        if self._stream_task is not None:  # else `run` has not got that far: it checks
            self._stream_task.cancel()

    def _task(self, coroutine: Any, role: str) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(
            coroutine, name=f"answer-{self.message_id}-{role}"
        )

    async def _stream(self) -> None:
        if self.context is None:
            read = db_call(selectors.model_context)
            self.context = await read(assistant_message_id=self.message_id)
        context = self.context
        async with asyncio.timeout(settings.LLM_MAX_ANSWER_SECONDS):
            # One stream, no callbacks: a token callback too would deliver every delta twice.
            async for item in stream_answer(
                context,
                model_key=self.model_key,
                instructions=self.instructions,
                temperature=self.temperature,
            ):
                if isinstance(item, Usage):
                    self.usage = asdict(item)
                elif isinstance(item, Finish):
                    self.finish_reason = item.reason[:32]
                else:
                    self._append(item)

    def _append(self, text: str) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = round((time.monotonic() - self._started) * 1000)
        metrics.TOKENS_RELAYED.inc()
        self._answer.append(text)
        self._pump.push(text)

    async def _finish(self, status: str, code: str, error: str) -> None:
        """Save the final state, then tell every tab; the save comes first so a tab
        that misses deltas can read the rest from the database."""
        progress_saver().untrack(self.message_id)
        await self._pump.close()
        duration_ms = round((time.monotonic() - self._started) * 1000)
        text = self.text
        save = functools.partial(
            db_call(services.message_finish),
            message_id=self.message_id,
            content=text,
            ttft_ms=self.ttft_ms,
            duration_ms=duration_ms,
            usage=self.usage,
            finish_reason=self.finish_reason,
        )
        try:
            saved = await retrying(
                lambda: save(status=status, error=error, error_code=code),
                what=f"final save of answer {self.message_id}",
                errors=metrics.DATABASE_ERRORS,
                seconds=settings.CHAT_FINAL_SAVE_SECONDS,
            )
        except Exception:  # the database stayed down: tell the tabs, keep trying
            status, code, error = Message.Status.ERROR, ErrorCode.UNAVAILABLE, SAVE_ERROR
            _keep(
                retrying(
                    lambda: save(status=status, error=error, error_code=code),
                    what=f"late save of answer {self.message_id}",
                    errors=metrics.DATABASE_ERRORS,
                    seconds=settings.CHAT_FINAL_SAVE_SECONDS * LATE_SAVE_FACTOR,
                ),
                f"answer-{self.message_id}-late-save",
            )
        else:
            if saved is not None and saved.status != status:  # another process settled it
                status, code, error = saved.status, saved.error_code, saved.error
        metrics.answer_finished(status, self.ttft_ms, duration_ms)
        events.answer_finished(
            user_id=self.user_id,
            conversation=self.conversation_id,
            message_id=self.message_id,
            model=self.model_name,
            status=status,
            error_code=code,
            ttft_ms=self.ttft_ms,
            duration_ms=duration_ms,
            usage=self.usage,
            text=text,
        )
        await self._charge()
        await self._announce(
            contract.chat_end(
                self.message_id,
                status=status,
                length=len(text),
                usage=self.usage,
                ttft_ms=self.ttft_ms,
                duration_ms=duration_ms,
                error_code=code,
                error=error,
                finish_reason=self.finish_reason,
            )
        )
        await self.control.close()
        if settings.CHAT_MODEL_TITLES and status == Message.Status.COMPLETE:
            title = titles.write_title(self.conversation_id, self.model_key, self.relay)
            _keep(title, f"answer-{self.message_id}-title")

    async def _charge(self) -> None:
        """Count the answer's tokens against its owner's daily budget."""
        if self.usage and self.usage.get("total_tokens"):
            tokens = self.usage["total_tokens"]
        else:  # the provider reported none: estimate from the characters
            tokens = quotas.estimate_tokens(self.context or [], self._answer.written)
        try:
            await db_call(quotas.charge)(conversation_id=self.conversation_id, tokens=tokens)
        except Exception:
            metrics.DATABASE_ERRORS.inc()
            logger.warning("answer %s: its tokens could not be counted", self.message_id)

    async def _announce(self, end: dict[str, Any]) -> None:
        """Publish `chat.end`, tried three times: a tab that still misses it learns the
        end from the saved answer (its watchdog)."""
        with contextlib.suppress(Exception):  # counted and logged by `retrying`
            await retrying(
                lambda: self.relay.publish(end),
                what=f"chat.end of answer {self.message_id}",
                errors=metrics.CHANNEL_LAYER_ERRORS,
                attempts=3,
                pause=0.2,
                give_up_level=logging.WARNING,
            )


# Late saves run detached from their answer (which has ended); referenced here.
_late: set[asyncio.Task[Any]] = set()


def _keep(coroutine: Coroutine[Any, Any, Any], name: str) -> None:
    task = asyncio.get_running_loop().create_task(coroutine, name=name)
    _late.add(task)
    task.add_done_callback(_late.discard)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())


def _cancelling() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0
