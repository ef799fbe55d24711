"""A question from Slack answered into its thread.

`answer_in_thread` runs as a task of its own once the event is acknowledged: it finds
the local owner and the thread's conversation, joins the conversation's group on a
channel of this process (the answer runs here: local delivery, nothing missed, no
Redis; the webhook door's producer follows answers the same way), starts the answer
through post() and follows it with a `Subscriber` in SLACK_CHUNK mode, exactly as a
tab would; each chunk goes to a `ThreadPoster`, which posts at its own pace.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from django.conf import settings

from chat import contract
from chat.conversations.services import conversation_create, derive_title
from chat.db import db_call
from chat.errors import Refusal
from chat.slack import services
from chat.slack.events import Ask
from chat.streaming.answer.exchanges import ExchangeRequest
from chat.streaming.delivery import local
from chat.streaming.delivery.driver import Subscription
from chat.streaming.delivery.frames import Frame
from chat.streaming.delivery.layers import channel_layer
from chat.streaming.delivery.subscriber import Subscriber, is_stream_event
from chat.streaming.stream.post import post
from chat.transports.slack.posting import ThreadPoster

logger = logging.getLogger(__name__)

STOPPED = "⏹️ The answer was stopped."
FAILED = "⚠️ The answer failed."
_answers: set[asyncio.Task[None]] = set()


def start(ask: Ask) -> None:
    """Answer `ask` in a task of its own (never waits)."""
    task = asyncio.get_running_loop().create_task(answer_in_thread(ask), name=f"slack-{ask.ts}")
    _answers.add(task)
    task.add_done_callback(_answers.discard)


async def answers_done(timeout: float) -> None:
    """Wait for the answers started here to be posted (tests, shutdown)."""
    if _answers:
        await asyncio.wait(list(_answers), timeout=timeout)


async def answer_in_thread(ask: Ask) -> None:
    poster = ThreadPoster(ask.channel, ask.thread_ts)
    posting = asyncio.get_running_loop().create_task(poster.run())
    try:
        await _answer(ask, poster)
    except Refusal as exc:
        poster.finish(f"⚠️ {exc.message}")
    except Exception:
        logger.exception("Slack question %s not answered", ask.event_id)
        poster.finish(FAILED)
    await posting


async def _answer(ask: Ask, poster: ThreadPoster) -> None:
    owner = await db_call(services.slack_owner)(slack_user_id=ask.slack_user)
    conversation_id = await db_call(services.thread_conversation)(
        channel=ask.channel,
        thread_ts=ask.thread_ts,
        owner=owner,
        title=derive_title(ask.text),
        create=conversation_create,
    )
    feed = AnswerFeed(conversation_id, poster)
    try:  # joined before the answer starts: it misses nothing
        posted = await post(ExchangeRequest(owner, conversation_id, ask.text, None))
        if posted.answer_id is None:
            poster.finish(None)
            return
        await feed.follow(posted.answer_id)
    finally:
        feed.close()


class AnswerFeed:
    """One answer of a conversation followed in this process, its frames to a poster."""

    def __init__(self, conversation_id: str, poster: ThreadPoster) -> None:
        self.poster = poster
        self.channel = f"slack.{uuid.uuid4().hex}"
        self.message_id = ""
        self.error = ""
        self.ended = asyncio.Event()
        local.hub().join(contract.conversation_group(conversation_id), self.channel)
        self.inbox = local.hub().open(self.channel)
        self.subscription = Subscription(
            Subscriber(settings.SLACK_CHUNK, settings.CHAT_CHUNK_MAX_CHARS),
            layer=channel_layer(),
            reply_to=self.channel,
            conversation_id=conversation_id,
            send=self._frame,
            on_history=self._no_history,
        )

    async def follow(self, message_id: str) -> None:
        self.message_id = message_id
        while not self.ended.is_set():
            event = await self.inbox.get()
            if is_stream_event(event):
                await self.subscription.step(self.subscription.subscriber.on_event, event)

    def close(self) -> None:
        local.hub().close(self.channel)
        self.subscription.close()

    async def _frame(self, frame: Frame) -> None:
        if frame.get("message_id") != self.message_id or self.ended.is_set():
            return
        if frame["type"] == "chunk":
            self.poster.add(frame["text"])
        elif frame["type"] == "error":
            self.error = str(frame.get("message") or "")
        elif frame["type"] == "end":
            self.poster.finish(_final(frame["status"], self.error))
            self.ended.set()

    async def _no_history(self, _: Any) -> None:
        return None


def _final(status: str, error: str) -> str | None:
    """The last post: none for a complete answer, else what ended it."""
    if status == "complete":
        return None
    if status == "stopped":
        return STOPPED
    return f"⚠️ {error}" if error else FAILED
