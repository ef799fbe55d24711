"""Database reads for conversations and messages: no side effects, ever.

Writes (including the stale-answer sweep that some reads want first) are in
services.py. Synchronous like services: views call them directly, async code
through `db_call`.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Exists, F, Model, OuterRef, Q, QuerySet
from django.db.models.functions import Length, Now

from chat.conversations.context_plan import Available, Turn, plan_context
from chat.conversations.tree import Tree
from chat.models import (
    Attachment,
    Conversation,
    Feedback,
    Message,
    Preset,
    ShareLink,
    Summary,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from chat.models import User


def parse_uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


# --- Conversations --------------------------------------------------------------


# What the sidebar lists unless asked: what a person started, in the browser or with
# the JSON API; each /v1 request is a conversation of its own and would crowd it out.
LISTED_BY_DEFAULT = (Conversation.Source.WEB, Conversation.Source.API)
ALL_SOURCES = "all"


def conversation_list(
    *, user: User, source: str = "", started_only: bool = False, archived: bool = False
) -> QuerySet[Conversation]:
    """The user's conversations: the pinned first, the most recently pinned first, then
    the rest newest first; archived ones left out, or with `archived` only they, the most
    recently archived first. Of one source, of all ("all"), or by default those of
    LISTED_BY_DEFAULT; `started_only`: those with at least one message (the chat page's
    list: an empty one is no chat yet). Temporary chats are never listed."""
    listed = Conversation.objects.filter(
        owner=user, archived__isnull=not archived, expires__isnull=True
    )
    if source == ALL_SOURCES:
        pass
    elif source:
        listed = listed.filter(source=source)
    else:
        listed = listed.filter(source__in=LISTED_BY_DEFAULT)
    if started_only:
        listed = listed.filter(Exists(Message.objects.filter(conversation=OuterRef("pk"))))
    if archived:
        return listed.order_by("-archived", "-updated")
    return listed.order_by(F("pinned").desc(nulls_last=True), "-updated")


def conversation_get(
    *, user: User | AnonymousUser, conversation_id: uuid.UUID | str
) -> Conversation:
    """The user's conversation; DoesNotExist for a bad id, a missing one, another's, or
    a temporary one past its time (gone at once, before the sweep deletes it)."""
    pk = parse_uuid(conversation_id)
    if pk is None or not user.is_authenticated:
        raise Conversation.DoesNotExist
    live = Q(expires__isnull=True) | Q(expires__gt=Now())
    return Conversation.objects.filter(live).get(pk=pk, owner=user)


def conversations_of(
    asks: Sequence[tuple[User | AnonymousUser, uuid.UUID | str]],
) -> list[Conversation | Exception]:
    """`conversation_get` for many (user, conversation id) pairs in one read: each
    pair's conversation (its own instance), or the DoesNotExist that refuses it."""
    pks = [
        parse_uuid(conversation_id) if user.is_authenticated else None
        for user, conversation_id in asks
    ]
    live = Q(expires__isnull=True) | Q(expires__gt=Now())
    wanted = {pk for pk in pks if pk is not None}
    found = {c.pk: c for c in Conversation.objects.filter(live, pk__in=wanted)} if wanted else {}
    outcomes: list[Conversation | Exception] = []
    for (user, _id), pk in zip(asks, pks, strict=True):
        conversation = found.get(pk) if pk is not None else None
        if conversation is None or conversation.owner_id != user.pk:
            outcomes.append(Conversation.DoesNotExist())
        else:
            outcomes.append(copy.copy(conversation))
    return outcomes


def conversations_contents_count(
    *, conversation_ids: list[uuid.UUID | str]
) -> dict[type[Model], int]:
    """How many messages and feedback entries the conversations hold, by model: what
    deleting them removes with them."""
    return {
        Message: Message.objects.filter(conversation_id__in=conversation_ids).count(),
        Feedback: Feedback.objects.filter(message__conversation_id__in=conversation_ids).count(),
    }


# --- Presets ----------------------------------------------------------------------


def preset_list(*, user: User) -> QuerySet[Preset]:
    """The user's presets, by name."""
    return Preset.objects.filter(owner=user).order_by("name", "pk")


def preset_get(*, user: User | AnonymousUser, preset_id: int | str) -> Preset:
    """The user's preset; DoesNotExist for a bad id, a missing one or another's."""
    try:
        pk = int(preset_id)
    except (TypeError, ValueError):
        raise Preset.DoesNotExist from None
    if not user.is_authenticated:
        raise Preset.DoesNotExist
    return Preset.objects.get(pk=pk, owner=user)


# --- Messages: the conversation's tree and its current path (chat/tree.py) ---------


def conversation_tree(*, conversation_id: uuid.UUID | str) -> Tree:
    """Every message's id and parent, in one query of two columns."""
    return conversation_trees(conversation_ids=[conversation_id])[str(conversation_id)]


def conversation_trees(*, conversation_ids: Iterable[uuid.UUID | str]) -> dict[str, Tree]:
    """`conversation_tree` of many conversations (by id as a string), in one query."""
    rows: dict[str, list[tuple[str, str | None]]] = {str(pk): [] for pk in conversation_ids}
    for conversation_id, pk, parent in (
        Message.objects.filter(conversation_id__in=list(rows))
        .order_by("created", "pk")
        .values_list("conversation_id", "pk", "parent_id")
    ):
        rows[str(conversation_id)].append((str(pk), str(parent) if parent else None))
    return {key: Tree(pairs) for key, pairs in rows.items()}


def current_path(*, conversation_id: uuid.UUID | str) -> tuple[Tree, list[str]]:
    """The tree, and the ids of the path the conversation shows (root first)."""
    leaf = Conversation.objects.filter(pk=conversation_id).values_list("leaf_id", flat=True)
    tree = conversation_tree(conversation_id=conversation_id)
    saved = leaf.first()
    return tree, tree.path(tree.current_leaf(str(saved) if saved else None))


def with_files(messages: Iterable[Message]) -> None:
    """Set each message's `files`: the files it carries, oldest first (one query)."""
    messages = list(messages)
    by_message: dict[uuid.UUID, list[Attachment]] = {}
    ids = [m.pk for m in messages if m.role == Message.Role.USER]
    if ids:
        for attachment in Attachment.objects.filter(message_id__in=ids).order_by("created"):
            if attachment.message_id is not None:
                by_message.setdefault(attachment.message_id, []).append(attachment)
    for message in messages:
        message.files = by_message.get(message.pk, [])


def files_by_message(*, conversation_id: uuid.UUID | str) -> dict[uuid.UUID, list[Attachment]]:
    """A conversation's sent files by the message carrying them, oldest first."""
    found: dict[uuid.UUID, list[Attachment]] = {}
    for attachment in Attachment.objects.filter(conversation_id=conversation_id).order_by(
        "created"
    ):
        if attachment.message_id is not None:
            found.setdefault(attachment.message_id, []).append(attachment)
    return found


def conversations_with_files(conversations: QuerySet[Conversation]) -> set[uuid.UUID]:
    """Which of `conversations` carry files (exports read only those files)."""
    rows = Attachment.objects.filter(conversation__in=conversations.values("pk"))
    return {pk for pk in rows.values_list("conversation_id", flat=True).distinct() if pk}


def messages_on_path(tree: Tree, ids: list[str]) -> list[Message]:
    """The messages `ids` in that order, with their feedback and files, each with
    `siblings`: its alternatives' ids, itself included (`serializers.message_to_dict`
    shows them)."""
    found = Message.objects.filter(pk__in=ids).select_related("feedback")
    by_id = {str(message.pk): message for message in found}
    messages = []
    for message_id in ids:
        message = by_id.get(message_id)
        if message is not None:  # deleted meanwhile
            message.siblings = tree.siblings(message_id)
            messages.append(message)
    with_files(messages)
    return messages


def conversation_messages(*, conversation_id: uuid.UUID | str) -> list[Message]:
    """The messages of the conversation's current path, oldest first, with their
    feedback and siblings. Answers left `streaming` by a dead process are not swept
    here: see `services.conversation_open`."""
    tree, path = current_path(conversation_id=conversation_id)
    return messages_on_path(tree, path)


def conversation_transcript(*, conversation_id: uuid.UUID | str) -> list[Message]:
    """Every message, for staff: the current path in order, each with `siblings`,
    `version` (its place among them, from 1) and `alternatives`: (message, depth)
    for every message of the branches that start at its other siblings, depth first.
    Three queries (with the files), whatever the tree's shape."""
    tree, path = current_path(conversation_id=conversation_id)
    found = Message.objects.filter(conversation_id=conversation_id).select_related("feedback")
    by_id = {str(message.pk): message for message in found}
    with_files(by_id.values())
    transcript = []
    for message_id in path:
        message = by_id.get(message_id)
        if message is None:
            continue
        message.siblings = tree.siblings(message_id)
        message.version = message.siblings.index(message_id) + 1
        message.alternatives = []
        for sibling in message.siblings:
            if sibling == message_id:
                continue
            stack = [(sibling, 0)]
            while stack:  # depth first, oldest child first, without recursion
                node, depth = stack.pop()
                if node in by_id:
                    message.alternatives.append((by_id[node], depth))
                stack.extend((child, depth + 1) for child in reversed(tree.children.get(node, [])))
        transcript.append(message)
    return transcript


def conversation_page(
    *, conversation_id: uuid.UUID | str, limit: int, before: uuid.UUID | str | None = None
) -> tuple[list[Message], bool]:
    """The newest `limit` messages of the current path (of those before message
    `before` on it, when given), oldest first, and whether the path has older ones.
    DoesNotExist: `before` is not on the current path."""
    tree, path = current_path(conversation_id=conversation_id)
    end = len(path)
    if before is not None:
        pk = parse_uuid(before)
        if pk is None or str(pk) not in path:
            raise Message.DoesNotExist
        end = path.index(str(pk))
    start = max(0, end - limit)
    return messages_on_path(tree, path[start:end]), start > 0


def message_get(*, message_id: uuid.UUID | str) -> Message | None:
    """One message with its feedback, as saved now; None if there is none (deleted)."""
    return Message.objects.select_related("feedback").filter(pk=message_id).first()


def answer_to_follow(
    *, conversation_id: uuid.UUID | str, message_id: uuid.UUID | str | None = None
) -> Message | None:
    """An answer of the conversation for an HTTP stream: `message_id` (one it resumes),
    or the one streaming now; None if there is none."""
    answers = Message.objects.select_related("feedback").filter(
        conversation_id=conversation_id, role=Message.Role.ASSISTANT
    )
    if message_id is not None:
        pk = parse_uuid(message_id)
        return answers.filter(pk=pk).first() if pk is not None else None
    return answers.filter(status=Message.Status.STREAMING).order_by("-created").first()


# --- What the model receives --------------------------------------------------------


def model_context(*, assistant_message_id: uuid.UUID | str) -> list[tuple[str, str]]:
    """(role, content) pairs that go to the model before an answer: the path down to
    its question (see pick_context)."""
    answer = Message.objects.only("conversation_id", "parent_id").get(pk=assistant_message_id)
    tree = conversation_tree(conversation_id=answer.conversation_id)
    parent = str(answer.parent_id) if answer.parent_id else None
    return contexts_for_paths({"": tree.path(parent)})[""]


def contexts_for_paths(
    paths: dict[str, list[str]], *, read_whole: Collection[str] = ()
) -> dict[str, list[tuple[str, str]]]:
    """What the model receives after each path (ids, root first), in one query (two
    when a path does not fit, for its summary): the finished messages on it, newest
    kept first within the budget; once they do not fit, the path's summary
    (SUMMARY_ROLE, first) ahead of the turns after its branch point that fit with it
    (context_plan.py), else today's cut (pick_context).

    `read_whole`: keys of `paths` that are conversation ids whose every message may be
    read (the caller knows the path is most of it): matched by conversation, not by
    each id, which costs more than the rows (a burst's hundred paths, 1,400 ids:
    20 ms against 8)."""
    wanted = {key: path[-MAX_CONTEXT_MESSAGES:] for key, path in paths.items()}
    by_id = {m for key, path in wanted.items() if key not in read_whole for m in path}
    texts = {
        str(pk): (role, content)
        for pk, role, content in _context_candidates()
        .filter(Q(pk__in=by_id) | Q(conversation_id__in=[k for k in wanted if k in read_whole]))
        .values_list("pk", "role", "content")
    }
    budget = settings.CHAT_HISTORY_CHAR_BUDGET
    turns_of = {
        key: [Turn(m, texts[m][0], len(texts[m][1])) for m in reversed(path) if m in texts]
        for key, path in wanted.items()
    }
    # A path that fits goes whole (plan_context): only the others read their summaries.
    over = [wanted[key] for key, turns in turns_of.items() if sum(t.length for t in turns) > budget]
    summaries = summaries_on_paths(over)
    contexts: dict[str, list[tuple[str, str]]] = {}
    for key, path in wanted.items():
        turns = turns_of[key]
        summary = usable_summary(path, summaries)
        available = Available(str(summary.covers_id), len(summary.text)) if summary else None
        plan = plan_context(turns, budget, available)
        context = [(SUMMARY_ROLE, summary.text)] if plan.summary and summary else []
        contexts[key] = context + [texts[m] for m in plan.sent]
    return contexts


# The role of the summary's pair in a context: the provider sends it with the system
# prompt (llm.to_langchain), never as a turn.
SUMMARY_ROLE = "summary"


def summaries_on_paths(paths: Iterable[list[str]]) -> dict[str, Summary]:
    """The summaries, whatever their state, whose branch point is on one of the paths,
    by that point."""
    ids = {message_id for path in paths for message_id in path}
    if not ids:
        return {}
    return {str(s.covers_id): s for s in Summary.objects.filter(covers__pk__in=ids)}


def usable_summary(path: list[str], summaries: Mapping[str, Summary]) -> Summary | None:
    """Of `summaries` (by branch point), the one that goes with `path` (root first): the
    deepest on it, if ready; past a failed one, the ready one before it (still true of
    what it covers); none once its owner cleared the deepest."""
    for message_id in reversed(path):
        summary = summaries.get(message_id)
        if summary is None or summary.status == Summary.Status.FAILED:
            continue
        if summary.status == Summary.Status.CLEARED or not summary.text:
            return None
        return summary
    return None


MAX_CONTEXT_MESSAGES = 500


def _context_candidates() -> QuerySet[Message]:
    # Only finished text counts: no errors, no answer still streaming, nothing empty.
    return Message.objects.exclude(
        status__in=[Message.Status.ERROR, Message.Status.STREAMING]
    ).exclude(content="")


def pick_context(newest_first: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(role, content) pairs in order, newest kept first: older messages are dropped
    once CHAT_HISTORY_CHAR_BUDGET characters are used, but the latest one always goes."""
    budget = settings.CHAT_HISTORY_CHAR_BUDGET
    picked: list[tuple[str, str]] = []
    for role, content in newest_first:
        if picked and len(content) > budget:
            break
        picked.append((role, content))
        budget -= len(content)
    picked.reverse()
    return picked


def context_lengths(*, conversation_ids: Iterable[uuid.UUID | str]) -> dict[str, int]:
    """The length of every message of the conversations that may go to the model (by
    id): what an answer's context will hold, read without its text."""
    return {
        str(pk): length
        for pk, length in _context_candidates()
        .filter(conversation_id__in=list(conversation_ids))
        .annotate(length=Length("content"))
        .values_list("pk", "length")
    }


def picked_length(newest_first: Iterable[int]) -> int:
    """How many characters `pick_context` keeps of messages of these lengths (its rule)."""
    budget = settings.CHAT_HISTORY_CHAR_BUDGET
    kept = 0
    for index, length in enumerate(newest_first):
        if index and length > budget:
            break
        kept += length
        budget -= length
    return kept


CONTINUATION_CANDIDATES = 5  # a token's most recent conversations that may be continued


def openai_continuation(
    *, token_id: int, history: list[tuple[str, str]], fields: Mapping[str, object]
) -> uuid.UUID | None:
    """The conversation of this API token that `history` continues, or None: an OpenAI
    client sends the whole conversation every turn, so a request whose earlier
    messages are exactly the current path (roles and texts) of one of the token's
    recent conversations, with the same model settings, is its next turn."""
    if not history:
        return None
    candidates = (
        Conversation.objects.filter(
            api_token_id=token_id, source=Conversation.Source.OPENAI, **fields
        )
        .order_by("-updated")
        .values_list("pk", flat=True)[:CONTINUATION_CANDIDATES]
    )
    for conversation_id in candidates:
        _, path = current_path(conversation_id=conversation_id)
        if len(path) != len(history):
            continue
        saved = {
            str(pk): (role, content)
            for pk, role, content in Message.objects.filter(pk__in=path).values_list(
                "pk", "role", "content"
            )
        }
        if [saved.get(message_id) for message_id in path] == list(history):
            return conversation_id
    return None


# --- Share links ---------------------------------------------------------------------


def share_list(
    *, user: User, conversation_id: uuid.UUID | str | None = None
) -> QuerySet[ShareLink]:
    """The user's share links, newest first (of one conversation, when given); their
    snapshots deferred: a list does not need them."""
    found = ShareLink.objects.filter(conversation__owner=user).defer("snapshot")
    if conversation_id is not None:
        found = found.filter(conversation_id=conversation_id)
    return found.select_related("conversation").order_by("-created", "-pk")


def share_get(*, user: User | AnonymousUser, share_id: int | str) -> ShareLink:
    """The user's share link; DoesNotExist for a bad id, a missing one or another's."""
    try:
        pk = int(share_id)
    except (TypeError, ValueError):
        raise ShareLink.DoesNotExist from None
    if not user.is_authenticated:
        raise ShareLink.DoesNotExist
    return (
        ShareLink.objects.defer("snapshot")
        .select_related("conversation")
        .get(pk=pk, conversation__owner=user)
    )


def share_by_token(*, token: str) -> ShareLink | None:
    """The link a shared page's token names, whatever its state; None if there is none."""
    if not token or len(token) > 64:
        return None
    return ShareLink.objects.filter(token=token).first()


def share_active_count(*, user_id: int) -> int:
    """How many of the user's links are neither revoked nor expired."""
    return (
        ShareLink.objects.filter(conversation__owner_id=user_id, revoked__isnull=True)
        .exclude(expires__lte=Now())
        .count()
    )
