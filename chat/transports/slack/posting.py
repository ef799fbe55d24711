"""Posting an answer's chunks into its Slack thread, one new message per chunk, at
most one post per SLACK_POSTS_PER_SECOND turn per channel: chunks that come while a
post waits for its turn are merged into it. A task of its own per answer: the answer
and its other subscribers never wait on Slack, and a failed call is logged, not raised.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from chat.slack import mrkdwn, pacing

logger = logging.getLogger(__name__)

_paces: dict[float, pacing.Pace] = {}  # this process's turns per channel, by interval


def web_client() -> AsyncWebClient:
    """Slack's Web API client (SLACK_API_URL: a loopback server in the tests)."""
    return AsyncWebClient(
        token=settings.SLACK_BOT_TOKEN,
        base_url=settings.SLACK_API_URL,
        timeout=10,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )


def pace() -> pacing.Pace:
    interval = pacing.interval_of(settings.SLACK_POSTS_PER_SECOND)
    return _paces.setdefault(interval, pacing.Pace(interval))


class ThreadPoster:
    """The posts of one answer: `add` a chunk (never waits), `finish` with the final
    word (or None); `run` posts them in order until the end."""

    def __init__(self, channel: str, thread_ts: str) -> None:
        self.channel = channel
        self.thread_ts = thread_ts
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.client = web_client()
        self.final: str | None = None

    def add(self, chunk: str) -> None:
        self.queue.put_nowait(chunk)

    def finish(self, final: str | None) -> None:
        self.final = final
        self.queue.put_nowait(None)

    async def run(self) -> None:
        ended = False
        while not ended:
            chunks = [await self.queue.get()]
            await self.turn()  # chunks that come meanwhile join this post
            while not self.queue.empty():
                chunks.append(self.queue.get_nowait())
            if None in chunks:
                ended = True
                chunks = chunks[: chunks.index(None)]
            posts = [mrkdwn.to_mrkdwn(t) for t in pacing.merged([c for c in chunks if c])]
            if ended and self.final:
                posts.append(self.final)
            for number, text in enumerate(posts):
                if number:
                    await self.turn()
                await self.say(text)

    async def turn(self) -> None:
        """Wait for this channel's next turn to post."""
        loop = asyncio.get_running_loop()
        at = pace().slot(self.channel, loop.time())
        await asyncio.sleep(max(0.0, at - loop.time()))

    async def say(self, text: str) -> None:
        """One message in the thread; a failure is logged and the next goes on."""
        try:
            await self.client.chat_postMessage(
                channel=self.channel, thread_ts=self.thread_ts, text=text, mrkdwn=True
            )
        except Exception:
            where = f"{self.channel}/{self.thread_ts}"
            logger.warning("Slack post to %s failed", where, exc_info=True)
