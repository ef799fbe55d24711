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
from chat.db import GroupCall, db_call
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


@dataclass(frozen=True)
class _Opening:
    turn: Turn
    token: ApiToken


@dataclass(frozen=True)
class _Opened:
    """The conversation a turn goes to: one it continues, or one imported for it."""

    conversation_id: UUID
    imported: bool


def _turns_open(openings: list[_Opening]) -> list[_Opened | Exception]:
    """The turns of a burst, on one database thread: all admitted at once (a Refusal
    before anything of it is written: quotas.prechecks); each continues its token's
    conversation it is the next turn of, or is imported, the burst's imports together
    (services.conversations_import). One outcome per turn."""
    refusals = quotas.prechecks(user_ids=[o.token.user_id for o in openings])
    outcomes: dict[int, _Opened | Exception] = {}
    new: dict[int, services.Import] = {}  # the turns that continue nothing
    for index, (opening, refused) in enumerate(zip(openings, refusals, strict=True)):
        if refused is not None:
            outcomes[index] = refused
            continue
        turn, token = opening.turn, opening.token
        try:
            earlier = selectors.openai_continuation(
                token_id=token.pk, history=turn.history, fields=turn.settings
            )
        except Exception as exc:
            outcomes[index] = exc
            continue
        if earlier is not None:
            outcomes[index] = _Opened(earlier, imported=False)
        else:
            new[index] = _import_of(turn, token)
    if new:
        made: list[Conversation | Exception]
        try:
            made = services.conversations_import(list(new.values()))
        except Exception as exc:  # the database: every import of the burst fails
            made = [exc] * len(new)
        for index, conversation in zip(new, made, strict=True):
            outcomes[index] = (
                conversation
                if isinstance(conversation, Exception)
                else _Opened(conversation.pk, imported=True)
            )
    return [outcomes[index] for index in range(len(openings))]


def _import_of(turn: Turn, token: ApiToken) -> services.Import:
    return services.Import(
        owner=token.user,
        history=turn.history,
        title=services.derive_title(turn.question),
        fields={"source": Conversation.Source.OPENAI, "api_token": token, **turn.settings},
    )


def _import(turn: Turn, token: ApiToken) -> Conversation:
    """One turn's conversation, imported alone (its continuation was busy)."""
    made = _import_of(turn, token)
    return services.conversation_import(
        owner=made.owner, history=made.history, title=made.title, **made.fields
    )


# A burst of turns (a hundred scripts at once) opens its conversations in one call
# instead of three database hops each, all fighting for the interpreter.
_openings: GroupCall[_Opening, _Opened] = GroupCall(_turns_open, name="turn-openings")


async def post_turn(
    turn: Turn, *, token: ApiToken, credential: dict[str, Any], on_leave: OnLeave
) -> tuple[Follower, Posted]:
    """Admit, then post the turn and follow its answer (token-by-token); a Refusal
    before anything is written when a limit refuses it."""
    opened = await _openings.submit(_Opening(turn, token))
    conversation_id = opened.conversation_id
    if not opened.imported:
        try:
            return await _post(conversation_id, turn, token, credential, on_leave)
        except Refusal as exc:
            if exc.code != ErrorCode.BUSY:
                raise  # busy: another request of the client is being answered there
        conversation_id = (await db_call(_import)(turn, token)).pk
    try:
        return await _post(conversation_id, turn, token, credential, on_leave)
    except BaseException:
        # Only a race with the limits (checked above) or an outage gets here.
        await Conversation.objects.filter(pk=conversation_id).adelete()
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
