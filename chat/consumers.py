"""The chat WebSocket: one consumer instance, and its own state, per connection.

Thin on purpose: it authenticates, validates frames (protocol.py), hands answers
to generation.py, and turns the conversation group's events into frames, chunked
the way this connection asked (relay.py, chunking.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import contract, exchanges, selectors, serializers, services
from .chunking import DEFAULT_MODE
from .contract import ErrorCode, conversation_group, request_stop
from .db import db_call
from .generation import start_generation
from .llm import chat_model, model_display_name
from .models import Conversation, Message
from .protocol import (
    FrameError,
    Ping,
    SetChunking,
    Stop,
    UserMessage,
    error_frame,
    parse_chunk_mode,
    parse_frame,
)
from .relay import StreamView

logger = logging.getLogger(__name__)

CLOSE_NOT_LOGGED_IN = 4401
CLOSE_FORBIDDEN = 4403
SYNC_TIMEOUT_SECONDS = 3.0
WATCHDOG_SECONDS = 5.0


class ChatConsumer(AsyncWebsocketConsumer):
    """Serves /ws/chat/<conversation_id>/ for the conversation's owner."""

    conversation: Conversation
    group: str = ""
    mode: str = DEFAULT_MODE
    # The answer streaming now, as this connection sees it.
    stream: StreamView | None = None
    # Held until the answer in progress sends its text so far (joined mid-answer).
    history_pending: list[Message] | None = None
    backlog: list[dict[str, Any]]
    last_event: float = 0.0  # when the live stream last sent us something

    async def connect(self) -> None:
        """Called when the socket opens: check who asks, then send the history."""
        self.backlog = []
        self.timers: set[asyncio.Task[None]] = set()
        # Accept first: closing before accept() turns any close code into HTTP 403.
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_LOGGED_IN)
            return
        try:
            self.conversation = await self.load_conversation(
                user, self.scope["url_route"]["kwargs"]["conversation_id"]
            )
        except Conversation.DoesNotExist:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            self.mode = parse_chunk_mode(query.get("chunk", [DEFAULT_MODE])[0])
        except FrameError as exc:
            await self.send_json(error_frame(exc.code, exc.message))
        chat_model()  # built on the first connection, not in the first answer's path
        self.group = conversation_group(self.conversation.pk)
        # Join before reading: any event after this read reaches us.
        await self.channel_layer.group_add(self.group, self.channel_name)
        messages = await db_call(services.conversation_open)(conversation_id=self.conversation.pk)
        live = next((m for m in messages if m.status == Message.Status.STREAMING), None)
        if live is None:
            await self.send_history(messages)
            return
        # An answer is streaming: the saved text lags behind, ask it for the text so far.
        self.stream = StreamView(str(live.id), self.mode, max_chars=settings.CHAT_CHUNK_MAX_CHARS)
        self.history_pending = messages
        self.watch(self.stream)
        await self.request_sync(0)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its `close_old_connections()` before every event.

        That call runs on the one thread that all thread-sensitive calls of the process
        share, so every delta of every answer queued behind the database work of every
        other connection: seconds of delay at 50 users with the CPU half idle. This
        consumer touches the database only through `db_call`, which closes old
        connections itself, on its own thread.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def load_conversation(self, user: Any, conversation_id: str) -> Conversation:
        """The conversation this socket serves; DoesNotExist closes it with 4403."""
        return await db_call(selectors.conversation_get)(user=user, conversation_id=conversation_id)

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes; a running answer goes on without us."""
        for timer in self.timers:
            timer.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Called for each client frame; anything slow runs elsewhere (generation task)."""
        try:
            frame = parse_frame(text_data)
            if isinstance(frame, UserMessage):
                await self.handle_user_message(frame)
            elif isinstance(frame, Stop):
                await self.stop_answer()
            elif isinstance(frame, SetChunking):
                self.mode = frame.mode
                if self.stream is not None:
                    await self.send_chunks(self.stream, self.stream.set_mode(frame.mode))
            elif isinstance(frame, Ping):
                await self.send_json({"type": "pong"})
        except FrameError as exc:
            await self.send_json(error_frame(exc.code, exc.message))
        except Exception:  # never a stack trace, never a dead socket
            logger.exception("frame from %s failed", self.scope["user"])
            await self.send_json(
                error_frame(
                    ErrorCode.SERVER_ERROR, "Something went wrong on the server. Try again."
                )
            )

    async def stop_answer(self) -> None:
        try:
            await request_stop(self.channel_layer, self.conversation.pk)
        except Exception:
            logger.warning("stop for %s could not be sent", self.conversation.pk, exc_info=True)
            raise FrameError(
                ErrorCode.UNAVAILABLE, "The answer could not be reached to stop it. Try again."
            ) from None

    async def handle_user_message(self, frame: UserMessage) -> None:
        try:
            exchange = await exchanges.exchange_start(
                exchanges.ExchangeRequest(
                    user=self.scope["user"],
                    conversation_id=self.conversation.pk,
                    content=frame.content,
                    client_id=frame.client_id,
                    model_name=model_display_name(),
                )
            )
        except services.ConversationBusy:
            raise FrameError(
                ErrorCode.BUSY, "An answer is still being written. Wait or stop it."
            ) from None
        except services.RateLimited:
            raise FrameError(
                ErrorCode.RATE_LIMITED, "You are sending messages too fast. Wait a minute."
            ) from None
        except Conversation.DoesNotExist:
            raise FrameError(ErrorCode.NOT_FOUND, "This conversation no longer exists.") from None
        saved = {"type": "message", **serializers.message_to_dict(exchange.user_message)}
        if exchange.assistant_message is None:  # a resend of a message already saved
            await self.send_json(saved)
            return
        try:
            await self.channel_layer.group_send(self.group, contract.chat_message(saved))
        except Exception:  # the layer hiccuped: this tab still sees its message, the answer runs
            logger.warning("could not announce message %s", saved["id"], exc_info=True)
            await self.send_json(saved)
        start_generation(
            conversation_id=self.conversation.pk,
            message_id=exchange.assistant_message.pk,
            model_name=exchange.assistant_message.model_name,
            context=exchange.context,
        )

    # --- Conversation group events -------------------------------------------------

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])

    async def chat_start(self, event: dict[str, Any]) -> None:
        if self.history_pending is not None:
            self.backlog.append(event)
            return
        self.stream = StreamView(
            event["message_id"], self.mode, max_chars=settings.CHAT_CHUNK_MAX_CHARS
        )
        self.watch(self.stream)
        await self.send_json(
            {"type": "start", "message_id": event["message_id"], "model": event["model"]}
        )

    async def chat_delta(self, event: dict[str, Any]) -> None:
        stream = self.stream
        if stream is None or stream.message_id != event["message_id"]:
            return
        self.last_event = time.monotonic()
        if self.history_pending is not None or self.backlog:
            self.backlog.append(event)
            return
        offset = event["offset"]
        for delta in event["deltas"]:
            chunks, gap = stream.accept(offset, delta)
            if gap:  # a group message was lost: ask the answer for the missing text
                logger.warning("gap in answer %s at %d", stream.message_id, stream.length)
                self.backlog.append(event)
                await self.request_sync(stream.length)
                return
            await self.send_chunks(stream, chunks)
            offset += len(delta)

    async def chat_sync(self, event: dict[str, Any]) -> None:
        """The answer's text from the offset we asked for: fills a join or a gap."""
        stream = self.stream
        if stream is None or stream.message_id != event["message_id"]:
            return
        self.last_event = time.monotonic()
        if self.history_pending is not None:
            messages, self.history_pending = self.history_pending, None
            for message in messages:
                if str(message.id) == stream.message_id:
                    message.content = event["text"]
            stream.length = len(event["text"])
            await self.send_history(messages)
        else:
            chunks, _ = stream.accept(event["offset"], event["text"])
            await self.send_chunks(stream, chunks)
        await self.replay_backlog()

    async def chat_sync_timeout(self, event: dict[str, Any]) -> None:
        """No answer to a sync request: fall back to what the database has."""
        stream = self.stream
        if stream is None or stream.message_id != event["message_id"]:
            return
        if self.history_pending is None and not self.backlog:
            return  # the sync arrived in time
        saved = await db_call(services.conversation_open)(conversation_id=self.conversation.pk)
        current = next((m for m in saved if str(m.id) == stream.message_id), None)
        if self.history_pending is not None:
            self.history_pending = None
            await self.send_history(saved)
            if current is None or current.status != Message.Status.STREAMING:
                self.stream, self.backlog = None, []
                return
            stream.length = len(current.content)
        elif current is not None and len(current.content) > stream.length:
            chunks, _ = stream.accept(stream.length, current.content[stream.length :])
            await self.send_chunks(stream, chunks)
        await self.replay_backlog()

    async def chat_end(self, event: dict[str, Any]) -> None:
        stream = self.stream
        if stream is None or stream.message_id != event["message_id"]:
            return
        if self.history_pending is not None or self.backlog:
            self.backlog.append(event)
            return
        tail = ""
        if stream.length < event["length"]:  # lost deltas: the saved text is the truth
            content = await db_call(_saved_content)(stream.message_id)
            tail = content[stream.length :]
        await self.end_stream(
            stream,
            tail,
            status=event["status"],
            usage=event["usage"],
            ttft_ms=event["ttft_ms"],
            duration_ms=event["duration_ms"],
            error=event["error"],
            error_code=event["error_code"],
        )

    async def chat_check(self, event: dict[str, Any]) -> None:
        """Watchdog: a quiet stream whose answer the database says is over lost its `end`."""
        stream = self.stream
        if stream is None or stream.message_id != event["message_id"]:
            return
        if self.history_pending is not None or self.backlog:
            return  # waiting for a sync: its own deadline covers this
        if time.monotonic() - self.last_event < WATCHDOG_SECONDS:
            return
        message = await db_call(Message.objects.get)(pk=stream.message_id)
        if message.status == Message.Status.STREAMING:
            return
        logger.warning("answer %s ended without an end event here", stream.message_id)
        await self.end_stream(
            stream,
            message.content[stream.length :],
            status=message.status,
            usage=message.usage,
            ttft_ms=message.ttft_ms,
            duration_ms=message.duration_ms,
            error=message.error,
            error_code=message.error_code,
        )

    async def end_stream(
        self,
        stream: StreamView,
        tail: str,
        *,
        status: str,
        usage: dict[str, int] | None,
        ttft_ms: int | None,
        duration_ms: int | None,
        error: str,
        error_code: str,
    ) -> None:
        """Send the rest of the answer, the chunker's remainder, then `error` and `end`."""
        if tail:
            chunks, _ = stream.accept(stream.length, tail)
            await self.send_chunks(stream, chunks)
        await self.send_chunks(stream, stream.finish())
        self.stream = None
        if status == Message.Status.ERROR:
            await self.send_json(
                error_frame(
                    error_code or ErrorCode.MODEL_ERROR, error, message_id=stream.message_id
                )
            )
        await self.send_json(
            {
                "type": "end",
                "message_id": stream.message_id,
                "status": status,
                "usage": usage,
                "ttft_ms": ttft_ms,
                "duration_ms": duration_ms,
                "error": error,
            }
        )

    # --- Helpers -------------------------------------------------------------------

    async def replay_backlog(self) -> None:
        """Handle the events that arrived while we waited for a sync, in order."""
        backlog, self.backlog = self.backlog, []
        handlers = {
            "chat.start": self.chat_start,
            "chat.delta": self.chat_delta,
            "chat.end": self.chat_end,
        }
        for index, event in enumerate(backlog):
            await handlers[event["type"]](event)
            if self.backlog:  # a new gap: keep the rest for after the next sync
                self.backlog.extend(backlog[index + 1 :])
                return

    def watch(self, stream: StreamView) -> None:
        """Check on a stream that goes quiet: its `end` may have been lost."""
        self.last_event = time.monotonic()
        self.start_timer(self._watchdog(stream.message_id))

    async def _watchdog(self, message_id: str) -> None:
        while self.stream is not None and self.stream.message_id == message_id:
            await asyncio.sleep(WATCHDOG_SECONDS)
            if time.monotonic() - self.last_event >= WATCHDOG_SECONDS:
                try:
                    await self.channel_layer.send(
                        self.channel_name, {"type": "chat.check", "message_id": message_id}
                    )
                except Exception:
                    logger.warning("watchdog of %s could not reach its consumer", message_id)

    def start_timer(self, coroutine: Any) -> None:
        timer = asyncio.get_running_loop().create_task(coroutine)
        self.timers.add(timer)
        timer.add_done_callback(self.timers.discard)

    async def request_sync(self, offset: int) -> None:
        assert self.stream is not None
        await contract.request_sync(
            self.channel_layer, self.conversation.pk, self.channel_name, offset
        )
        self.start_timer(self._sync_deadline(self.stream.message_id))

    async def _sync_deadline(self, message_id: str) -> None:
        await asyncio.sleep(SYNC_TIMEOUT_SECONDS)
        try:
            await self.channel_layer.send(
                self.channel_name, {"type": "chat.sync_timeout", "message_id": message_id}
            )
        except Exception:
            logger.warning("could not schedule the sync timeout for %s", message_id)

    async def send_history(self, messages: list[Message]) -> None:
        await self.send_json(
            {
                "type": "history",
                "conversation": {"id": str(self.conversation.pk), "title": self.conversation.title},
                "messages": [serializers.message_to_dict(m) for m in messages],
                "chunking": self.mode,
                "model": model_display_name(),
            }
        )

    async def send_chunks(self, stream: StreamView, chunks: list[str]) -> None:
        for seq, text in stream.number(chunks):
            await self.send_json(
                {"type": "chunk", "message_id": stream.message_id, "seq": seq, "text": text}
            )

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content, ensure_ascii=False))


def _saved_content(message_id: str) -> str:
    return Message.objects.values_list("content", flat=True).get(pk=message_id)
