"""What every chat socket keeps about itself: counted on its user's cap, opened and
closed in the metrics and the log, each once, whatever way it ends; and its events,
this process's first (delivery/local.py)."""

from __future__ import annotations

from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.utils import await_many_dispatch

from chat.accounts import guards
from chat.streaming.delivery import local
from chat.streaming.delivery.layers import channel_layer
from chat.telemetry import log_events as events
from chat.telemetry import metrics


class CountedSocket(AsyncJsonWebsocketConsumer):
    counted: Any = None  # the user whose socket cap counts this socket
    opened = False  # accepted, and its end not yet counted and logged

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The connection's whole life; its end is counted even if a handler raised."""
        try:
            await self.serve(scope, receive, send)
        finally:  # also when cancelled before its disconnect ran (a slow connect)
            self.socket_ended(None)
            self.uncount()

    async def serve(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' AsyncConsumer.__call__, with the channel's events read by a
        local.Receiver: this process's own (an answer running here) straight from its
        inbox, the rest from the channel layer."""
        self.scope = scope
        self.channel_layer = channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_events = local.Receiver(self.channel_layer, self.channel_name)
        self.base_send = send
        try:
            # Channels' stub has each callable return a receive callable, not a message.
            await await_many_dispatch(
                [receive, self.channel_events],  # type: ignore[list-item]  # the stub (above)
                self.dispatch,
            )
        except StopConsumer:
            pass
        finally:
            self.channel_events.close()

    async def accept_counted(self) -> None:
        """Accept (first: closing before accept() turns any code into HTTP 403), count
        and log the socket."""
        await self.accept()
        self.opened = True
        metrics.WEBSOCKETS_OPEN.inc()
        events.socket_opened(
            user_id=self.user_id(), conversation=self.route_conversation(), path=self.scope["path"]
        )

    def count(self, user_id: Any) -> bool:
        """Count the socket on the user's cap; False (not counted) when over it."""
        if not guards.socket_opened(user_id):
            return False
        self.counted = user_id
        return True

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
