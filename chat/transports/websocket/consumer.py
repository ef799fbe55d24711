"""The chat WebSocket: one consumer instance, and its own state, per connection.

A door and nothing more: it authenticates, turns client frames (protocol.py) into
calls on its `Tab` (streaming/stream/tab.py: the conversation followed, answers
started and stopped through the one answer stream) and the tab's frames into JSON.

Every frame but `ping`, `set_chunking` and `hush` is handled only while the socket's session
(or API token) still signs its user in, checked in the database first: a logout, a
password change or a revoked or expired token ends the socket (4401) before the next
frame does anything, not only when the channel layer's `user.check` arrives. A
read-only token's socket is refused every frame that starts or changes anything.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from django.conf import settings
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from chat.accounts import guards, scopes
from chat.conversations import selectors
from chat.db import db_call
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation
from chat.provider.llm import chat_model
from chat.streaming.delivery import frames, protocol
from chat.streaming.delivery.chunking import DEFAULT_MODE
from chat.streaming.stream.tab import Tab
from chat.telemetry import startpath
from chat.transports.websocket.language import localize, scope_language
from chat.transports.websocket.sockets import CountedSocket
from chat.transports.websocket.throttle import TokenBucket

if TYPE_CHECKING:
    from chat.errors import Sentence
    from chat.models import User

logger = logging.getLogger(__name__)

CLOSE_NOT_LOGGED_IN = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_POLICY = 1008
SERVER_ERROR = _("Something went wrong on the server. Try again.")
TOO_MANY_SOCKETS = _("Too many open chat connections. Close a tab and retry.")
TOO_MANY_FRAMES = _("Too many frames from this connection; it is closed.")
# Frames that touch nothing but the socket itself: no credential check for them.
SOCKET_ONLY = (protocol.Ping, protocol.SetChunking, protocol.Hush)
# Frames that start an answer (the start clock runs: chat/telemetry/startpath.py).
STARTS = (protocol.UserMessage, protocol.Edit, protocol.Regenerate, protocol.Continue)
# Frames that start or change something (an answer, the branch shown).
CHANGES = (
    protocol.UserMessage,
    protocol.Edit,
    protocol.Regenerate,
    protocol.Continue,
    protocol.Switch,
    protocol.Stop,
)


class ChatConsumer(CountedSocket):
    """Serves /ws/chat/<conversation_id>/ for the conversation's owner."""

    tab: Tab | None = None
    closing = False  # the server closed the socket: frames still in flight are dropped

    async def connect(self) -> None:
        """Called when the socket opens: check who asks, then send the history."""
        self.frames = TokenBucket(settings.CHAT_FRAMES_PER_SECOND, settings.CHAT_FRAME_BURST)
        await self.accept_counted()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.close(code=CLOSE_NOT_LOGGED_IN)
        if (refused := scopes.socket_refusal(self.scope.get("api_token_scope"))) is not None:
            await self.send_json(frames.error_frame(refused.code, refused.sentence))
            return await self.close(code=CLOSE_FORBIDDEN)
        if not self.count(user.pk):
            return await self.refuse(TOO_MANY_SOCKETS)
        try:
            conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
            conversation = await self.load_conversation(user, conversation_id)
        except Conversation.DoesNotExist:
            return await self.close(code=CLOSE_FORBIDDEN)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            mode = protocol.parse_chunk_mode(query.get("chunk", [DEFAULT_MODE])[0])
        except Refusal as exc:
            mode = DEFAULT_MODE
            await self.send_json(frames.error_frame(exc.code, exc.sentence))
        chat_model()  # built on the first connection, not in the first answer's path
        self.tab = Tab(
            conversation,
            user=cast("User", user),  # Channels' lazy user: the AUTH_USER_MODEL's, signed in
            mode=mode,
            layer=self.channel_layer,
            channel=self.channel_name,
            send=self.send_json,
        )
        await self.tab.open()

    async def load_conversation(self, user: Any, conversation_id: str) -> Conversation:
        """The conversation this socket serves; DoesNotExist closes it with 4403."""
        return await db_call(selectors.conversation_get)(user=user, conversation_id=conversation_id)

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes; a running answer goes on without us."""
        self.socket_ended(code)
        self.uncount()
        if self.tab is not None:
            await self.tab.close()

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        self.closing = True
        await super().close(code=code, reason=reason)

    async def refuse(self, message: Sentence) -> None:
        """Tell the client why (`rate_limited`), then close with 1008 (policy)."""
        await self.send_json(frames.error_frame(ErrorCode.RATE_LIMITED, message))
        await self.close(code=CLOSE_POLICY)

    # --- Events from the channel layer ------------------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its `close_old_connections()` before every event:
        that runs on the one thread all thread-sensitive calls share, so every delta
        queued behind everyone's database work (docs/performance.md). This consumer
        reaches the database only through `db_call`, which closes old connections.
        The conversation's events go straight to the tab."""
        if message["type"].startswith("chat.") and self.tab is not None:
            return await self.tab.on_event(message)
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def user_check(self, event: dict[str, Any]) -> None:
        """The account changed: a session that no longer signs the user in ends here."""
        if not await guards.still_signed_in(self.scope):
            await self.close(code=CLOSE_NOT_LOGGED_IN)

    # --- Client frames ---------------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Every frame is answered, a refusal with an `error` frame, never a stack trace."""
        if self.closing:
            return
        if not self.frames.take(time.monotonic()):
            return await self.refuse(TOO_MANY_FRAMES)
        try:
            frame = await self.decode_json(text_data)
            if isinstance(frame, STARTS):
                startpath.begin("websocket")
            if await self.signed_out(frame):
                return await self.close(code=CLOSE_NOT_LOGGED_IN)
            startpath.phase("auth")
            await self.receive_json(frame)
        except Refusal as exc:
            await self.send_json(frames.error_frame(exc.code, exc.sentence, **exc.fields()))
        except Exception:  # never a dead socket
            logger.exception("frame from %s failed", self.scope["user"])
            await self.send_json(frames.error_frame(ErrorCode.SERVER_ERROR, SERVER_ERROR))

    async def signed_out(self, frame: Any) -> bool:
        """Does this frame come too late, its session or token no longer valid? A
        frame that changes something from a read-only token is refused here."""
        if isinstance(frame, SOCKET_ONLY):
            return False
        if not await guards.still_signed_in(self.scope):
            return True
        if isinstance(frame, CHANGES):
            refused = scopes.change_refusal(self.scope.get("api_token_scope"))
            if refused is not None:
                raise refused
        return False

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, protocol.Ping):
            await self.send_json(frames.PONG)
        elif self.tab is not None:
            await self.tab.handle(content)

    @classmethod
    async def decode_json(cls, text_data: str | None) -> Any:
        return protocol.parse_frame(text_data)

    @cached_property
    def language(self) -> str:
        """The language of this socket's sentences: its handshake's (language.py)."""
        return scope_language(self.scope)

    async def send_json(self, content: Any, close: bool = False) -> None:
        """Send a frame, its sentences for the user in the socket's language."""
        if isinstance(content, dict):
            content = localize(content, self.language)
        await super().send_json(content, close=close)

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return json.dumps(content, ensure_ascii=False)
