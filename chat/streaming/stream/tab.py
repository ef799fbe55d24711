"""A whole conversation followed by a tab: its history, every answer in it, branches.

A browser tab (and a staff live tail) shows a conversation, not one answer: the
newest page of its current path (joining an answer still streaming), each new
question and answer as they come, another branch when any tab switches, older pages
on request. `Tab` is that for any door that can show it; the door only turns its
frames into bytes and its client's requests into calls. Answers are started and
stopped through the one answer stream (post.py), like every door's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from channels.layers import BaseChannelLayer
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from chat import contract
from chat.accounts.preferences import preferred_voice
from chat.conversations import serializers, services
from chat.db import db_call
from chat.errors import ErrorCode, Refusal
from chat.models import Conversation, Message
from chat.provider.llm import model_display_name
from chat.streaming.answer.admission import Kind
from chat.streaming.answer.exchanges import ExchangeRequest
from chat.streaming.answer.registry import request_stop
from chat.streaming.delivery import driver, frames, local, protocol
from chat.streaming.delivery.driver import Subscription
from chat.streaming.delivery.frames import Frame
from chat.streaming.delivery.subscriber import Subscriber, is_stream_event
from chat.streaming.stream.post import post, unannounced_start
from chat.streaming.stream.voice import Voice
from chat.telemetry import metrics

if TYPE_CHECKING:
    from chat.conversations.serializers import MessageDict
    from chat.models import User

logger = logging.getLogger(__name__)

UNREACHABLE = _("The answer could not be reached to stop it. Try again.")
NO_SUCH_MESSAGE = _("No such message here.")
KINDS = {
    protocol.UserMessage: Kind.SEND,
    protocol.Edit: Kind.EDIT,
    protocol.Regenerate: Kind.REGENERATE,
    protocol.Continue: Kind.CONTINUE,
}


class Tab:
    """One tab's view of `conversation`, over `channel` (its own, on `layer`);
    `send`: how a frame goes out."""

    def __init__(
        self,
        conversation: Conversation,
        *,
        user: User,
        mode: str,
        layer: BaseChannelLayer,
        channel: str,
        send: Callable[[Frame], Awaitable[None]],
    ) -> None:
        self.conversation = conversation
        self.user = user
        self.layer = layer
        self.channel = channel
        self.voice = Voice(user.pk, send)

        async def send_and_speak(frame: Frame) -> None:
            await send(frame)
            self.voice.heard(frame)

        self.send = send_and_speak
        self.has_more = False
        self.subscriber = Subscriber(mode, settings.CHAT_CHUNK_MAX_CHARS)
        self.subscription = Subscription(
            self.subscriber,
            layer=layer,
            reply_to=channel,
            conversation_id=conversation.pk,
            send=self.send,
            on_history=self.send_history_page,
        )
        self.groups = [
            contract.conversation_group(conversation.pk),
            contract.user_group(user.pk),
        ]

    async def open(self) -> None:
        """Join the conversation's and the user's groups, then send the history: any
        event after this read reaches the tab."""
        for group in self.groups:
            await local.group_add(self.layer, group, self.channel)
        await self.send_history()

    async def close(self) -> None:
        """The door is gone: no timer fires for it, no group holds it."""
        self.subscription.close()
        self.voice.close()
        for group in self.groups:
            await local.group_discard(self.layer, group, self.channel)

    async def on_event(self, event: local.Event) -> None:
        """A `chat.*` event of the conversation: its answers' to the subscriber;
        `chat.path` (another branch shown, by any tab) sends the history again;
        `chat.conversation` (its title or settings changed) sends them."""
        kind = event["type"]
        if is_stream_event(event):
            await self.subscription.step(self.subscriber.on_event, event)
        elif kind == "chat.path" and await self.refresh():
            await self.send_history()
        elif kind == "chat.conversation" and await self.refresh():
            await self.send(frames.conversation_frame(self.conversation))

    async def handle(self, request: protocol.Frame) -> None:
        """What a client asks, parsed (delivery/protocol.py); `ping` is the door's."""
        if isinstance(request, protocol.UserMessage | protocol.Edit | protocol.Stop):
            self.voice.hush()  # barge-in: the voice stops at once
        if isinstance(request, protocol.UserMessage | protocol.Edit):
            target = getattr(request, "message_id", None)
            files = getattr(request, "attachments", ())
            await self.start_answer(
                KINDS[type(request)], request.content, request.client_id, target, files
            )
        elif isinstance(request, protocol.Regenerate | protocol.Continue):
            await self.start_answer(KINDS[type(request)], target=request.message_id)
        elif isinstance(request, protocol.Switch):
            await self.switch_branch(request.message_id)
        elif isinstance(request, protocol.Stop):
            await self.stop()
        elif isinstance(request, protocol.SetChunking):
            await self.subscription.step(self.subscriber.set_mode, request.mode)
        elif isinstance(request, protocol.LoadOlder):
            await self.send_older(request.before)
        elif isinstance(request, protocol.SetVoice):
            voice = request.voice
            if request.on and voice is None:  # the user's own choice (the settings page)
                voice = await db_call(preferred_voice)(self.user) or None
            self.voice.configure(on=request.on, mode=request.mode, voice=voice)
        elif isinstance(request, protocol.Hush):
            self.voice.hush()

    async def send_history(self) -> None:
        """The newest page of the current path, through the subscriber (it joins an
        answer still streaming)."""
        page = settings.CHAT_HISTORY_PAGE
        messages, self.has_more = await db_call(driver.history)(self.conversation.pk, page)
        await self.subscription.step(self.subscriber.on_history, messages)

    async def send_history_page(self, messages: list[MessageDict]) -> None:
        await self.send(self.history_frame(messages))

    def history_frame(self, messages: list[MessageDict]) -> Frame:
        return frames.history_frame(
            conversation=serializers.conversation_settings(self.conversation),
            messages=messages,
            has_more=self.has_more,
            chunking=self.subscriber.mode,
            model=model_display_name(self.conversation.model),
        )

    # --- What the client asks ---------------------------------------------------------

    async def start_answer(
        self,
        kind: Kind,
        content: str = "",
        client_id: str | None = None,
        target: str | None = None,
        files: tuple[str, ...] = (),
    ) -> None:
        request = ExchangeRequest(
            self.user,
            self.conversation.pk,
            content,
            client_id,
            kind=kind,
            target_id=target,
            attachments=files,
        )
        posted = await post(request)
        if posted.announced:
            return
        if posted.frame is not None:
            await self.send(posted.frame)
        if (start := unannounced_start(posted)) is not None:
            await self.on_event(dict(start))

    async def stop(self) -> None:
        try:
            await request_stop(self.layer, self.conversation.pk)
        except Exception:
            metrics.CHANNEL_LAYER_ERRORS.inc()
            logger.warning("stop for %s not sent", self.conversation.pk, exc_info=True)
            raise Refusal(ErrorCode.UNAVAILABLE, UNREACHABLE) from None

    async def switch_branch(self, message_id: str) -> None:
        """Show the branch through `message_id` in every tab of the conversation."""
        switch = db_call(services.conversation_switch_branch)
        try:
            leaf = await switch(conversation_id=self.conversation.pk, message_id=message_id)
        except Message.DoesNotExist:
            raise Refusal(ErrorCode.NOT_FOUND, NO_SUCH_MESSAGE) from None
        try:
            await contract.group_send(self.layer, self.groups[0], contract.chat_path(leaf))
        except Exception:  # this tab at least shows it; the others on their next read
            metrics.CHANNEL_LAYER_ERRORS.inc()
            logger.warning("branch switch in %s not announced", self.conversation.pk)
            await self.send_history()

    async def send_older(self, before: str) -> None:
        read = db_call(driver.older)
        try:
            page, more = await read(self.conversation.pk, before, settings.CHAT_HISTORY_PAGE)
        except Message.DoesNotExist:
            raise Refusal(ErrorCode.NOT_FOUND, NO_SUCH_MESSAGE) from None
        await self.send(frames.older_frame(page, has_more=more))

    async def refresh(self) -> bool:
        """Read the conversation again (its settings changed); False if it is gone."""
        try:
            self.conversation = await db_call(Conversation.objects.get)(pk=self.conversation.pk)
        except Conversation.DoesNotExist:
            return False
        return True
