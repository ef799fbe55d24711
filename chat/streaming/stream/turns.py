"""A turn of a client that sends the whole conversation every time (OpenAI's API, and
any door like it): admitted before anything of it is written, it continues the
conversation it is the next turn of, or starts a new one with its history.

A client of the OpenAI API resends every earlier message with each question: storing
them each time would write the same history again and again (a 500-message request
is about 1 MB). A request whose earlier messages are exactly the current path of one
of its API token's recent conversations, with the same model settings, is posted to
that conversation (selectors.openai_continuation); otherwise a new conversation is
imported with the history, and deleted again if its answer cannot start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict
from uuid import UUID

from chat.conversations import quotas, selectors, services
from chat.db import db_call
from chat.errors import ErrorCode, Refusal
from chat.models import ApiToken, Conversation
from chat.provider.llm import NO_LIMITS, AnswerLimits
from chat.streaming.answer.exchanges import ExchangeRequest
from chat.streaming.stream.follow import Follower
from chat.streaming.stream.post import OnLeave, Posted, post


class TurnSettings(TypedDict):
    """The settings of the conversation a turn belongs to (its fields of those names)."""

    model: str
    instructions: str
    temperature: float | None


@dataclass(frozen=True)
class Turn:
    """What the client sent: the messages before its question, the question, the
    conversation's settings (`model`, `instructions`, `temperature`), and what it asks
    of this answer alone (a token cap, stop sequences)."""

    history: list[tuple[str, str]]
    question: str
    settings: TurnSettings
    limits: AnswerLimits = NO_LIMITS
    attachments: tuple[str, ...] = ()  # ids of the user's stored files the question carries


async def post_turn(
    turn: Turn, *, token: ApiToken, credential: dict[str, Any], on_leave: OnLeave
) -> tuple[Follower, Posted]:
    """Admit, then post the turn and follow its answer (token-by-token); a Refusal
    before anything is written when a limit refuses it."""
    if (refused := await db_call(quotas.precheck)(user_id=token.user_id)) is not None:
        raise refused
    find = db_call(selectors.openai_continuation)
    earlier = await find(token_id=token.pk, history=turn.history, fields=turn.settings)
    if earlier is not None:
        try:
            return await _post(earlier, turn, token, credential, on_leave)
        except Refusal as exc:
            if exc.code != ErrorCode.BUSY:
                raise  # busy: another request of the client is being answered there
    conversation = await db_call(services.conversation_import)(
        owner=token.user,
        history=turn.history,
        title=services.derive_title(turn.question),
        source=Conversation.Source.OPENAI,
        api_token=token,
        **turn.settings,
    )
    try:
        return await _post(conversation.pk, turn, token, credential, on_leave)
    except BaseException:
        # Only a race with the limits (checked above) or an outage gets here.
        await Conversation.objects.filter(pk=conversation.pk).adelete()
        raise


async def _post(
    conversation_id: UUID | str,
    turn: Turn,
    token: ApiToken,
    credential: dict[str, Any],
    on_leave: OnLeave,
) -> tuple[Follower, Posted]:
    follower = Follower(conversation_id, credential=credential, mode="token", on_leave=on_leave)
    await follower.join()  # before the answer starts: it misses nothing
    try:
        asked = ExchangeRequest(
            token.user,
            conversation_id,
            turn.question,
            client_id=None,
            limits=turn.limits,
            attachments=turn.attachments,
        )
        return follower, await post(asked, on_leave=on_leave)
    except BaseException:
        await follower.leave()
        raise
