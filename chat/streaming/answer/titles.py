"""Conversation titles written by the model (CHAT_MODEL_TITLES, off by default).

A conversation is titled from its first line when its first message is saved
(`services.derive_title`): offline, instant, and what the demo model keeps. With the
setting on, once the first answer is complete the conversation's model is asked for a
short title, in the background; it replaces the first-line title only if nobody has
renamed the conversation meanwhile, and every tab hears of it (`chat.conversation`).
A failure leaves the first-line title: a title is never worth an error.
"""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

from django.conf import settings
from langchain_core.messages import HumanMessage

from chat import contract
from chat.conversations.services import derive_title
from chat.db import db_call
from chat.models import Conversation, Message
from chat.provider.llm import chat_model, resolve_model_or_default
from chat.streaming.answer.relay import Relay

logger = logging.getLogger(__name__)

PROMPT = (
    "Write a title of at most six words for the conversation below, in its language. "
    "Answer with the title only: no quotes, no full stop.\n\n"
    "User: {question}\n\nAssistant: {answer}"
)
EXCERPT_CHARS = 1500
TITLE_SECONDS = 30.0


def clean_title(text: str) -> str:
    """The model's answer as a title: its first line, without quotes, prefixes or a
    final full stop, at most 60 characters (cut on a word)."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    for prefix in ("title:", "Title:", "TITLE:"):
        line = line.removeprefix(prefix).strip()
    for _ in range(2):  # "A title". or *"A title"*
        line = line.strip("\"'“”‘’「」*#` ").rstrip(".。")
    return derive_title(line)


def first_exchange(conversation_id: UUID | str) -> tuple[str, str, str] | None:
    """(first-line title, question, answer) while the conversation still has that title
    and exactly one answer; None otherwise (titled already, renamed, or later on)."""
    conversation = Conversation.objects.filter(pk=conversation_id).only("title").first()
    answers = list(
        Message.objects.filter(
            conversation_id=conversation_id, role=Message.Role.ASSISTANT
        ).values_list("content", "status", "parent__content")[:2]
    )
    if conversation is None or len(answers) != 1:
        return None
    answer, status, question = answers[0]
    if status != Message.Status.COMPLETE or conversation.title != derive_title(question or ""):
        return None
    return conversation.title, question, answer


def retitle(conversation_id: UUID | str, expected: str, title: str) -> bool:
    """Set the title if it is still `expected` (not renamed meanwhile)."""
    changed = Conversation.objects.filter(pk=conversation_id, title=expected).update(title=title)
    return bool(changed)


async def write_title(conversation_id: UUID | str, model_key: str | None, relay: Relay) -> None:
    """Ask the conversation's model for a title after its first answer (see above);
    the tabs hear of a new title through the answer's relay."""
    if not settings.CHAT_MODEL_TITLES or resolve_model_or_default(model_key).kind == "demo":
        return
    try:
        found = await db_call(first_exchange)(conversation_id)
        if found is None:
            return
        expected, question, answer = found
        prompt = PROMPT.format(question=question[:EXCERPT_CHARS], answer=answer[:EXCERPT_CHARS])
        model = chat_model(model_key).model
        async with asyncio.timeout(TITLE_SECONDS):
            reply = await model.ainvoke([HumanMessage(prompt)])
        title = clean_title(str(reply.text))
        if not title or not await db_call(retitle)(conversation_id, expected, title):
            return
        await relay.publish(contract.chat_conversation())
    except Exception:
        logger.warning("no model title for conversation %s", conversation_id, exc_info=True)
