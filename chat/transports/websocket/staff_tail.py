"""Live tail for staff: watch an answer arrive, read-only, through the same group.

It is a ChatConsumer that may open any conversation (staff with the view
permission) and accepts no frame but `ping`: the user sees no difference, since a
tail only listens to the group and asks the running answer for its text so far.
"""

from __future__ import annotations

from typing import Any

from chat.conversations import selectors, services
from chat.db import db_call
from chat.errors import ErrorCode, Refusal
from chat.models import AuditEvent, Conversation
from chat.streaming.delivery import frames
from chat.streaming.delivery.protocol import LoadOlder, Ping
from chat.transports.websocket.consumer import ChatConsumer


class StaffTailConsumer(ChatConsumer):
    """Serves /ws/admin/tail/<conversation_id>/ to staff who may view conversations."""

    async def load_conversation(self, user: Any, conversation_id: str) -> Conversation:
        if "api_token_id" in self.scope:  # staff tails need a staff session, not a token
            raise Conversation.DoesNotExist
        return await db_call(_staff_conversation)(user, conversation_id)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, LoadOlder):
            assert self.tab is not None
            return await self.tab.send_older(content.before)
        if not isinstance(content, Ping):
            raise Refusal(ErrorCode.READ_ONLY, "The live tail is read-only.")
        await self.send_json(frames.PONG)


def _staff_conversation(user: Any, conversation_id: str) -> Conversation:
    if not (user.is_active and user.is_staff and user.has_perm("chat.view_conversation")):
        raise Conversation.DoesNotExist
    pk = selectors.parse_uuid(conversation_id)
    if pk is None:
        raise Conversation.DoesNotExist
    conversation = Conversation.objects.get(pk=pk)
    services.audit_record(
        actor=user, action=AuditEvent.Action.LIVE_TAIL, conversation_ids=[conversation.pk]
    )
    return conversation
