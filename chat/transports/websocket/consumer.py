"""The chat WebSocket: one consumer instance, and its own state, per connection.

A thin adapter: it authenticates, validates frames (protocol.py), starts answers
(exchanges.py, generation.py), and carries out what its Subscriber (subscriber.py,
the catch-up rules) asks for: frames to send, syncs to request, saved messages to
read, deadlines to set.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from chat import contract
from chat.accounts import guards
from chat.conversations import quotas, selectors, serializers, services
from chat.db import db_call
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation, Message
from chat.provider.llm import chat_model, model_display_name
from chat.streaming.answer import exchanges, generation
from chat.streaming.delivery import driver as subscription
from chat.streaming.delivery import frames
from chat.streaming.delivery.chunking import DEFAULT_MODE
from chat.streaming.delivery.driver import Subscription
from chat.streaming.delivery.protocol import (
    Continue,
    Edit,
    LoadOlder,
    Ping,
    Regenerate,
    SetChunking,
    Stop,
    Switch,
    UserMessage,
    parse_chunk_mode,
)
from chat.streaming.delivery.protocol import parse_frame as decode_frame
from chat.streaming.delivery.subscriber import EVENT_RULES, Subscriber
from chat.telemetry import log_events as events
from chat.telemetry import metrics
from chat.transports.websocket.throttle import TokenBucket

logger = logging.getLogger(__name__)

CLOSE_NOT_LOGGED_IN = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_POLICY = 1008


class ChatConsumer(AsyncJsonWebsocketConsumer):
    """Serves /ws/chat/<conversation_id>/ for the conversation's owner."""

    conversation: Conversation
    group: str = ""
    counted: Any = None  # the user whose socket cap counts this socket
    opened = False  # accepted, and its end not yet counted and logged

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The connection's whole life; its end is counted even if a handler raised."""
        try:
            await super().__call__(scope, receive, send)
        finally:  # also when cancelled before its disconnect ran (a slow connect)
            self.socket_ended(None)
            self.uncount()

    async def connect(self) -> None:
        """Called when the socket opens: check who asks, then send the history."""
        self.subscriber = Subscriber(DEFAULT_MODE, settings.CHAT_CHUNK_MAX_CHARS)
        self.frames = TokenBucket(settings.CHAT_FRAMES_PER_SECOND, settings.CHAT_FRAME_BURST)
        await self.accept()  # first: closing before accept() turns any code into HTTP 403
        self.opened = True
        metrics.WEBSOCKETS_OPEN.inc()
        events.socket_opened(
            user_id=self.user_id(), conversation=self.route_conversation(), path=self.scope["path"]
        )
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.close(code=CLOSE_NOT_LOGGED_IN)
        if not guards.socket_opened(user.pk):
            return await self.refuse("Too many open chat connections. Close a tab and retry.")
        self.counted = user.pk
        try:
            self.conversation = await self.load_conversation(
                user, self.scope["url_route"]["kwargs"]["conversation_id"]
            )
        except Conversation.DoesNotExist:
            return await self.close(code=CLOSE_FORBIDDEN)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            self.subscriber.mode = parse_chunk_mode(query.get("chunk", [DEFAULT_MODE])[0])
        except Refusal as exc:
            await self.send_json(frames.error_frame(exc.code, exc.message))
        chat_model()  # built on the first connection, not in the first answer's path
        self.subscription = Subscription(
            self.subscriber,
            layer=self.channel_layer,
            reply_to=self.channel_name,
            conversation_id=self.conversation.pk,
            send=self.send_json,
            history_frame=self.history_frame,
        )
        self.group = contract.conversation_group(self.conversation.pk)
        # Join before reading: any event after this read reaches us.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(contract.user_group(user.pk), self.channel_name)
        await self.send_history()

    async def send_history(self) -> None:
        """The newest page of the conversation's current path, through the subscriber
        (it joins an answer still streaming)."""
        page = settings.CHAT_HISTORY_PAGE
        messages, self.has_more = await db_call(subscription.history)(self.conversation.pk, page)
        await self.subscription.step(self.subscriber.on_history, messages)

    async def chat_path(self, event: dict[str, Any]) -> None:
        """Another branch is shown now (`switch`, in any tab): send it again."""
        if await self.refresh_conversation():
            await self.send_history()

    async def load_conversation(self, user: Any, conversation_id: str) -> Conversation:
        """The conversation this socket serves; DoesNotExist closes it with 4403."""
        return await db_call(selectors.conversation_get)(user=user, conversation_id=conversation_id)

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes; a running answer goes on without us."""
        self.socket_ended(code)
        self.uncount()
        if self.group:
            self.subscription.close()
            await self.channel_layer.group_discard(self.group, self.channel_name)
            user_group = contract.user_group(self.scope["user"].pk)
            await self.channel_layer.group_discard(user_group, self.channel_name)

    def socket_ended(self, code: int | None) -> None:
        """Count and log the socket's end, once (`code` None: ended without a close)."""
        if not self.opened:
            return
        self.opened = False
        metrics.WEBSOCKETS_OPEN.dec()
        events.socket_closed(
            user_id=self.user_id(), conversation=self.route_conversation(), code=code
        )

    def uncount(self) -> None:
        """Take the socket off its user's cap, once."""
        if self.counted is not None:
            guards.socket_closed(self.counted)
            self.counted = None

    def user_id(self) -> Any:
        user = self.scope.get("user")
        return user.pk if user is not None and user.is_authenticated else None

    def route_conversation(self) -> Any:
        return self.scope.get("url_route", {}).get("kwargs", {}).get("conversation_id")

    async def user_check(self, event: dict[str, Any]) -> None:
        """The account changed: a session that no longer signs the user in ends here."""
        if not await guards.still_signed_in(self.scope):
            await self.close(code=CLOSE_NOT_LOGGED_IN)

    async def refuse(self, message: str) -> None:
        """Tell the client why (`rate_limited`), then close with 1008 (policy)."""
        await self.send_json(frames.error_frame(ErrorCode.RATE_LIMITED, message))
        await self.close(code=CLOSE_POLICY)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its `close_old_connections()` before every event:
        that runs on the one thread all thread-sensitive calls share, so every delta
        queued behind everyone's database work (docs/performance.md). This consumer
        reaches the database only through `db_call`, which closes old connections.
        The conversation's events go straight to the subscriber."""
        if message["type"] in EVENT_RULES:
            return await self.subscription.step(self.subscriber.on_event, message)
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- Client frames ---------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Every frame is answered, a refusal with an `error` frame, never a stack trace."""
        if not self.frames.take(time.monotonic()):
            return await self.refuse("Too many frames from this connection; it is closed.")
        try:
            await self.receive_json(await self.decode_json(text_data))
        except Refusal as exc:
            await self.send_json(frames.error_frame(exc.code, exc.message, **exc.fields()))
        except Exception:  # never a dead socket
            logger.exception("frame from %s failed", self.scope["user"])
            message = "Something went wrong on the server. Try again."
            await self.send_json(frames.error_frame(ErrorCode.SERVER_ERROR, message))

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, UserMessage):
            await self.start_answer(exchanges.Kind.SEND, content.content, content.client_id)
        elif isinstance(content, Edit):
            kind = exchanges.Kind.EDIT
            await self.start_answer(kind, content.content, content.client_id, content.message_id)
        elif isinstance(content, Regenerate):
            await self.start_answer(exchanges.Kind.REGENERATE, "", None, content.message_id)
        elif isinstance(content, Continue):
            await self.start_answer(exchanges.Kind.CONTINUE, "", None, content.message_id)
        elif isinstance(content, Switch):
            await self.switch_branch(content.message_id)
        elif isinstance(content, Stop):
            try:
                await generation.request_stop(self.channel_layer, self.conversation.pk)
            except Exception:
                metrics.CHANNEL_LAYER_ERRORS.inc()
                logger.warning("stop for %s not sent", self.conversation.pk, exc_info=True)
                message = "The answer could not be reached to stop it. Try again."
                raise Refusal(ErrorCode.UNAVAILABLE, message) from None
        elif isinstance(content, SetChunking):
            await self.subscription.step(self.subscriber.set_mode, content.mode)
        elif isinstance(content, Ping):
            await self.send_json(frames.PONG)
        elif isinstance(content, LoadOlder):
            await self.send_older(content.before)

    async def start_answer(
        self, kind: exchanges.Kind, content: str, client_id: str | None, target: Any = None
    ) -> None:
        request = exchanges.ExchangeRequest(
            user=self.scope["user"],
            conversation_id=self.conversation.pk,
            content=content,
            client_id=client_id,
            kind=kind,
            target_id=target,
        )
        posted = await exchanges.post_message(request)
        if posted.announced:
            return
        if posted.frame is not None:
            await self.send_json(posted.frame)
        if posted.answer_id is not None:
            # The channel layer failed: its events may never come. Follow the answer
            # from here, so the watchdog ends it from the saved row (`error` and `end`
            # if it could not start) instead of the tab waiting on a silent bus.
            start = contract.chat_start(posted.answer_id, posted.model)
            await self.subscription.step(self.subscriber.on_event, start)

    async def switch_branch(self, message_id: str) -> None:
        """Show the branch through `message_id` in every tab of the conversation."""
        switch = db_call(services.conversation_switch_branch)
        try:
            leaf = await switch(conversation_id=self.conversation.pk, message_id=message_id)
        except Message.DoesNotExist:
            raise Refusal(ErrorCode.NOT_FOUND, "No such message here.") from None
        except quotas.ConversationBusy as exc:
            raise Refusal(exc.code, exc.message) from None
        try:
            await self.channel_layer.group_send(self.group, contract.chat_path(leaf))
        except Exception:  # this tab at least shows it; the others on their next read
            metrics.CHANNEL_LAYER_ERRORS.inc()
            logger.warning("branch switch in %s not announced", self.conversation.pk)
            await self.send_history()

    async def send_older(self, before: str) -> None:
        read = db_call(subscription.older)
        try:
            page, more = await read(self.conversation.pk, before, settings.CHAT_HISTORY_PAGE)
        except Message.DoesNotExist:
            raise Refusal(ErrorCode.NOT_FOUND, "No such message here.") from None
        await self.send_json(frames.older_frame(page, has_more=more))

    def history_frame(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return frames.history_frame(
            conversation=serializers.conversation_settings(self.conversation),
            messages=messages,
            has_more=self.has_more,
            chunking=self.subscriber.mode,
            model=model_display_name(self.conversation.model),
        )

    async def chat_conversation(self, event: dict[str, Any]) -> None:
        """The conversation's title, model or instructions changed (in any tab)."""
        if await self.refresh_conversation():
            await self.send_json(frames.conversation_frame(self.conversation))

    async def refresh_conversation(self) -> bool:
        """Read the conversation again; False if it is gone."""
        try:
            self.conversation = await db_call(Conversation.objects.get)(pk=self.conversation.pk)
        except Conversation.DoesNotExist:
            return False
        return True

    @classmethod
    async def decode_json(cls, text_data: str | None) -> Any:
        return decode_frame(text_data)

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return json.dumps(content, ensure_ascii=False)
