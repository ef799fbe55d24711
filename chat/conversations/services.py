"""Database writes for conversations, messages, feedback and staff review.

Reads with no side effects are in selectors.py, the JSON shapes in serializers.py.
Synchronous on purpose: views call them directly, async code through `db_call`.
Every rule that must hold across server processes is enforced in the database, not
in a process's memory: starting an answer (one at a time per conversation,
idempotent resends, rate limits) in `chat/exchanges.py`, the rest here.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings as django_settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat import contract, db
from chat.contract import request_stop
from chat.conversations import liveness, quotas, selectors, snapshots
from chat.errors import INTERRUPTED_ERROR, ErrorCode, Refusal
from chat.models import (
    AuditEvent,
    Conversation,
    Feedback,
    Message,
    Preset,
    ShareLink,
    UserPreferences,
)

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from chat.models import ApiToken, User

logger = logging.getLogger(__name__)


@dataclass
class Exchange:
    # The question saved (None for a regenerate or a continue: the answer has one).
    user_message: Message | None
    assistant_message: Message | None  # None when a resend matched an earlier message
    # What the model receives for the answer, read in the same transaction.
    context: list[tuple[str, str]] = field(default_factory=list)
    # The conversation's model (chat/llm.py), instructions and temperature.
    model_key: str | None = None
    instructions: str = ""
    temperature: float | None = None
    # The question whose attached files go to the model with it (None: no files).
    files_of: str | None = None


def derive_title(content: str, limit: int = 60) -> str:
    """A conversation's title: the first line of its first message, shortened on a word."""
    first = next((line.strip() for line in content.splitlines() if line.strip()), "")
    if len(first) <= limit:
        return first
    cut = first[:limit].rsplit(" ", 1)[0] if " " in first[:limit] else first[:limit]
    return cut.rstrip() + "…"


# --- Conversations --------------------------------------------------------------


SETTINGS_FIELDS = ("model", "instructions", "temperature")


def conversation_create(
    *,
    owner: User,
    title: str = "",
    preset: Preset | None = None,
    api_token: ApiToken | None = None,
    temporary: bool = False,
    **settings: str | float | None,
) -> Conversation:
    """A new conversation; with `preset`, it is answered as the preset says (its
    instructions, model and temperature), unless `settings` say otherwise. Given no
    instructions (not even "") and none by the preset, it starts with the owner's
    default instructions, its own from then on. Made with `api_token` (a script), its
    source is the API and the token is recorded. `temporary`: not listed nor searched,
    deleted CHAT_TEMPORARY_HOURS after now. quotas.StorageFull when the owner may keep
    no more."""
    quotas.storage_check(user_id=owner.pk)
    copied = {name: getattr(preset, name) for name in SETTINGS_FIELDS} if preset else {}
    copied.update((name, settings[name]) for name in SETTINGS_FIELDS if name in settings)
    if "instructions" not in settings and not copied.get("instructions"):
        copied["instructions"] = default_instructions(owner_id=owner.pk)
    if api_token is not None:
        copied.update(source=Conversation.Source.API, api_token=api_token)
    if temporary:
        copied["expires"] = timezone.now() + timedelta(hours=django_settings.CHAT_TEMPORARY_HOURS)
    return Conversation.objects.create(owner=owner, title=title.strip(), **copied)


def default_instructions(*, owner_id: int) -> str:
    """The instructions the user's new conversations start with ("": none), from their
    preferences (chat/accounts/preferences.py writes them)."""
    found = UserPreferences.objects.filter(user_id=owner_id).values_list(
        "default_instructions", flat=True
    )
    return next(iter(found), "")


def conversation_import(
    *,
    owner: User,
    history: list[tuple[str, str]],
    title: str = "",
    **fields: str | float | ApiToken | None,
) -> Conversation:
    """A new conversation that starts with `history`, (role, content) pairs saved as
    finished messages one after the other (a client of the OpenAI-compatible API sends
    the whole conversation each time), its `assistant` turns marked as the client's;
    `fields`: the conversation's other fields. quotas.StorageFull when the owner may
    keep no more. (`conversations_import` of one.)"""
    (made,) = conversations_import([Import(owner, history, title, fields)])
    if isinstance(made, Exception):
        raise made
    return made


@dataclass(frozen=True)
class Import:
    """One conversation to import (`conversation_import`'s arguments)."""

    owner: User
    history: list[tuple[str, str]]
    title: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)


@transaction.atomic
def conversations_import(imports: Sequence[Import]) -> list[Conversation | Exception]:
    """`conversation_import` for a burst (the /v1 door's new conversations): the
    owners' storage in two reads, then every conversation, message and leaf written in
    one pipelined statement each (db.insert_rows, db.update_rows). One outcome per
    import: its conversation, or the StorageFull that refuses it."""
    refusals = quotas.storage_checks(user_ids=[i.owner.pk for i in imports])
    outcomes: list[Conversation | Exception] = []
    made: list[Conversation] = []
    messages: list[Message] = []
    leaves: dict[uuid.UUID, uuid.UUID] = {}  # conversation: leaf, after the messages
    for item, refused in zip(imports, refusals, strict=True):
        if refused is not None:
            outcomes.append(refused)
            continue
        conversation = Conversation(owner=item.owner, title=item.title.strip(), **item.fields)
        parent = None
        for role, content in item.history:
            message = Message(
                conversation=conversation,
                parent_id=parent,
                role=role,
                content=content,
                supplied_by_client=role == Message.Role.ASSISTANT,
            )
            messages.append(message)
            parent = message.pk
        if parent is not None:
            leaves[conversation.pk] = parent
        made.append(conversation)
        outcomes.append(conversation)
    db.insert_rows(made)
    db.insert_rows(messages)
    if leaves:
        db.update_rows(Conversation, ["leaf"], "", [[leaf, pk] for pk, leaf in leaves.items()])
    for conversation in made:  # as conversation_import's callers see it
        conversation.leaf_id = leaves.get(conversation.pk)
    return outcomes


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    return conversation_update(conversation=conversation, changes={"title": title})


def conversation_update(
    *, conversation: Conversation, changes: Mapping[str, str | float | bool | None]
) -> Conversation:
    """Save a new title, model, instructions or temperature, pin or archive it (only the
    keys given), then tell the conversation's open tabs (`chat.conversation`): they show
    the change. Pinning and archiving leave `updated` alone: it says when it was last
    used, and the list's order by it stays."""
    fields = [name for name in ("title", *SETTINGS_FIELDS) if name in changes]
    for name in fields:
        value = changes[name]
        setattr(conversation, name, value.strip() if isinstance(value, str) else value)
    pin, archive = (changes.get(name) for name in MARKS)
    marks = conversation_mark(
        conversation,
        pin=pin if isinstance(pin, bool) else None,
        archive=archive if isinstance(archive, bool) else None,
    )
    if fields:
        conversation.save(update_fields=[*fields, *marks, "updated"])
    elif marks:
        Conversation.objects.filter(pk=conversation.pk).update(
            **{name: getattr(conversation, name) for name in marks}
        )
    if marks:  # Now() becomes the time the database wrote
        conversation.refresh_from_db(fields=marks)
    conversation_notify(conversation_id=conversation.pk)
    return conversation


MARKS = ("pinned", "archived")


def conversation_marks(
    *, pinned: bool, archived: bool, pin: bool | None, archive: bool | None
) -> tuple[bool, bool]:
    """(pinned, archived) after a change (None: that one not asked). Never both:
    archiving unpins, pinning an archived conversation brings it back, and when both are
    asked archiving wins."""
    if archive:
        return False, True
    if pin:
        return True, False
    return (pinned if pin is None else False), (archived if archive is None else False)


def conversation_mark(
    conversation: Conversation, *, pin: bool | None, archive: bool | None
) -> list[str]:
    """Set `pinned` and `archived` as `conversation_marks` says, unsaved: one that stays
    set keeps its time, one newly set gets the database's clock (Now(): the list orders
    pins by it, whichever process wrote them), a cleared one None. Both are written
    whenever either is asked, so two changes at once cannot leave an archived
    conversation pinned. Returns the fields to save (none when nothing was asked)."""
    if pin is None and archive is None:
        return []
    after = conversation_marks(
        pinned=conversation.pinned is not None,
        archived=conversation.archived is not None,
        pin=pin,
        archive=archive,
    )
    for name, on in zip(MARKS, after, strict=True):
        current = getattr(conversation, name)
        setattr(conversation, name, (current or Now()) if on else None)
    return list(MARKS)


def conversation_notify(*, conversation_id: uuid.UUID | str) -> None:
    """Tell every tab of the conversation to read its settings again. Best effort: the
    change is saved whatever the channel layer does (a tab reads it on its next
    connect), so a failure is logged, not raised."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            contract.conversation_group(conversation_id),
            contract.chat_conversation(),  # type: ignore[arg-type]  # a TypedDict is a dict
        )
    except Exception:
        logger.exception("could not tell the tabs of conversation %s of a change", conversation_id)


# How a delete tells a running answer to stop: contract.request_stop's signature.
StopAnswer = Callable[[BaseChannelLayer, uuid.UUID | str], Awaitable[None]]
STOP_UNSENT = _(
    "An answer is still being written in this conversation and the server's message "
    "bus is unavailable to stop it; nothing was deleted. Try again in a moment."
)
STOP_RETRY_SECONDS = 5


def conversation_delete(*, conversation: Conversation, stop: StopAnswer = request_stop) -> None:
    """Delete a conversation and its messages. An answer still streaming in it, which
    has nowhere to go any more, is told to stop first (`stop`: through the channel
    layer, unless the caller knows a nearer way); with none, the channel layer is not
    used. A stop that cannot be sent (Redis down) deletes nothing: a Refusal
    `unavailable`, and the answer runs on and ends saved as if no delete had come."""
    messages_sweep_stale(conversation_id=conversation.pk)  # a dead process's is no one's
    layer = get_channel_layer()
    streaming = Message.objects.filter(conversation=conversation, status=Message.Status.STREAMING)
    if layer is not None and streaming.exists():
        try:
            async_to_sync(stop)(layer, conversation.pk)
        except Exception as exc:
            logger.warning("conversation %s not deleted: stop not sent: %r", conversation.pk, exc)
            raise Refusal(
                ErrorCode.UNAVAILABLE, STOP_UNSENT, retry_after=STOP_RETRY_SECONDS
            ) from exc
    conversation.delete()


RETENTION_BATCH = 500


def conversations_delete_old(*, days: int, dry_run: bool = False) -> int:
    """Delete the conversations with no activity (`updated`) for `days` days, their
    messages with them, in batches (the operator's CHAT_RETENTION_DAYS: the sweep and
    `manage.py delete_old_conversations`). One with an answer still streaming is left
    for a later run. Returns how many were (or, `dry_run`, would be) deleted."""
    old = Conversation.objects.filter(updated__lt=timezone.now() - timedelta(days=days)).exclude(
        messages__status=Message.Status.STREAMING
    )
    if dry_run:
        return old.count()
    deleted = 0
    while batch := list(old.order_by("updated").values_list("pk", flat=True)[:RETENTION_BATCH]):
        with transaction.atomic():
            Conversation.objects.filter(pk__in=batch).delete()
        deleted += len(batch)
    if deleted:
        logger.info("retention: deleted %d conversations older than %d days", deleted, days)
    return deleted


def conversations_delete_expired() -> int:
    """Delete the temporary chats past their time, their messages with them (the sweep,
    every pass). One with an answer still streaming waits for the next pass."""
    expired = Conversation.objects.filter(expires__lt=Now()).exclude(
        messages__status=Message.Status.STREAMING
    )
    deleted = 0
    while batch := list(expired.values_list("pk", flat=True)[:RETENTION_BATCH]):
        with transaction.atomic():
            Conversation.objects.filter(pk__in=batch).delete()
        deleted += len(batch)
    if deleted:
        logger.info("deleted %d temporary chats past their time", deleted)
    return deleted


@transaction.atomic
def conversation_switch_branch(
    *, conversation_id: uuid.UUID | str, message_id: uuid.UUID | str
) -> str:
    """Show the branch through message `message_id`: the conversation's leaf becomes
    the newest leaf below it (chat/tree.py). Returns the new leaf's id; DoesNotExist
    for a message not in the conversation, quotas.ConversationBusy while an answer
    streams."""
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    messages_sweep_stale(conversation_id=conversation.pk)
    if Message.objects.filter(conversation=conversation, status=Message.Status.STREAMING).exists():
        raise quotas.ConversationBusy
    tree = selectors.conversation_tree(conversation_id=conversation.pk)
    pk = selectors.parse_uuid(message_id)
    if pk is None or str(pk) not in tree:
        raise Message.DoesNotExist
    leaf = tree.newest_leaf_under(str(pk))
    Conversation.objects.filter(pk=conversation.pk).update(leaf_id=leaf)
    return leaf


# --- Presets ----------------------------------------------------------------------


class PresetNameTaken(Exception):
    """The user already has a preset of that name."""


def preset_create(*, owner: User, name: str, **settings: str | float | None) -> Preset:
    """PresetNameTaken when the owner has one of that name."""
    preset = Preset(owner=owner, name=name.strip())
    return preset_update(preset=preset, changes=settings)


def preset_update(*, preset: Preset, changes: dict[str, str | float | None]) -> Preset:
    """Save the keys given of name, model, instructions, temperature (PresetNameTaken)."""
    for name in ("name", *SETTINGS_FIELDS):
        if name in changes:
            value = changes[name]
            setattr(preset, name, value.strip() if isinstance(value, str) else value)
    try:
        with transaction.atomic():
            preset.save()
    except IntegrityError as exc:  # unique_preset_name_per_owner
        raise PresetNameTaken(preset.name) from exc
    return preset


def preset_delete(*, preset: Preset) -> None:
    """Conversations started from it keep their settings: they were copied."""
    preset.delete()


# --- Messages ---------------------------------------------------------------------


def messages_sweep_stale(
    *, conversation_id: uuid.UUID | str | None = None, message_id: uuid.UUID | str | None = None
) -> int:
    """Mark answers left `streaming` by a dead process as errors (of one conversation,
    or one message); returns how many."""
    answers = Message.objects.filter(
        conversation_id=conversation_id  # type: ignore[misc]  # None matches no rows
    )
    if message_id is not None:
        answers = Message.objects.filter(pk=message_id)
    return _sweep(answers)


def messages_sweep_stale_all() -> int:
    """`messages_sweep_stale` over every conversation (the periodic sweep)."""
    return _sweep(Message.objects.all())


def _sweep(messages: QuerySet[Message]) -> int:
    """Staleness by the database's clock alone (liveness.py), whatever this server's."""
    stale = messages.filter(status=Message.Status.STREAMING, updated__lt=liveness.stale_before())
    return stale.update(
        status=Message.Status.ERROR,
        error=INTERRUPTED_ERROR,
        error_code=ErrorCode.INTERRUPTED,
        updated=Now(),
    )


def conversation_open(*, conversation_id: uuid.UUID | str) -> list[Message]:
    """A conversation's messages as a client opening it should see them: answers left
    `streaming` by a dead process are swept first (`messages_sweep_stale`), then
    `selectors.conversation_messages`. One call, so async code makes one thread hop."""
    messages_sweep_stale(conversation_id=conversation_id)
    return selectors.conversation_messages(conversation_id=conversation_id)


def conversation_open_page(
    *, conversation_id: uuid.UUID | str, limit: int
) -> tuple[list[Message], bool]:
    """`conversation_open` for a socket: the newest `limit` messages and whether there
    are older ones (`selectors.conversation_page`)."""
    messages_sweep_stale(conversation_id=conversation_id)
    return selectors.conversation_page(conversation_id=conversation_id, limit=limit)


def messages_save_progress(
    *, appends: dict[str, tuple[int, str]], alive: Collection[str] = ()
) -> None:
    """Periodic save of every streaming answer of a process: bounds the loss on a crash
    and doubles as their heartbeat (`updated`, by the database's clock). One
    transaction. `appends`: by answer, (offset, text): the saved text is kept up to
    `offset` and `text` follows it, so a save sends what grew, not the whole answer (a
    long one, continued again and again, was rewritten in full every second). `alive`:
    the answers that did not grow since their last save: only their heartbeat."""
    quote = connection.ops.quote_name
    column = {name: quote(_message_column(name)) for name in ("content", "updated", "status")}
    content = column["content"]
    sql = (
        f"UPDATE {quote(Message._meta.db_table)} SET "
        f"{content} = SUBSTR({content}, 1, CAST(%s AS INTEGER)) || %s, "
        f"{column['updated']} = {db.now_sql()} "
        f"WHERE {quote(_message_column('id'))} = %s AND {column['status']} = %s"
    )
    rows = [
        (offset, text, uuid.UUID(str(pk)), str(Message.Status.STREAMING))
        for pk, (offset, text) in appends.items()
    ]
    with transaction.atomic():
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(sql, rows)
        if alive:
            streaming = Message.objects.filter(pk__in=alive, status=Message.Status.STREAMING)
            streaming.update(updated=Now())


def _message_column(name: str) -> str:
    column = Message._meta.get_field(name).column  # type: ignore[union-attr]
    assert column is not None
    return column


def message_finish(
    *,
    message_id: uuid.UUID | str,
    content: str,
    status: str,
    error: str = "",
    error_code: str = "",
    ttft_ms: int | None = None,
    duration_ms: int | None = None,
    usage: dict[str, int] | None = None,
    finish_reason: str = "",
) -> Message | None:
    """Final save of an answer: its whole text, a definite status and the metrics.

    Only a `streaming` answer takes the status: one that another process already
    settled (the sweep marked it interrupted while this process could not save) keeps
    its status and error, and takes the text and metrics. Returns the message as
    saved, or None if it is gone (its conversation was deleted)."""
    usage = usage or {}
    fields = {
        "content": content,
        "ttft_ms": ttft_ms,
        "duration_ms": duration_ms,
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "total_tokens": usage.get("total_tokens"),
        "finish_reason": finish_reason,
        "updated": Now(),
    }
    with transaction.atomic():
        answer = Message.objects.filter(pk=message_id)
        if not answer.filter(status=Message.Status.STREAMING).update(
            status=status, error=error, error_code=error_code, **fields
        ):
            answer.update(**fields)
        return answer.only("status", "error", "error_code").first()


class FeedbackNotAllowed(Exception):
    """Feedback is for the owner's finished assistant answers only."""


def feedback_set(
    *, user: User, message_id: uuid.UUID | str, rating: Feedback.Rating | None, comment: str = ""
) -> Message:
    """Record, change or (rating None) withdraw the user's thumbs on an answer."""
    pk = selectors.parse_uuid(message_id)
    if pk is None:
        raise Message.DoesNotExist
    message = Message.objects.select_related("conversation").get(pk=pk, conversation__owner=user)
    if message.role != Message.Role.ASSISTANT or message.status == Message.Status.STREAMING:
        raise FeedbackNotAllowed
    if rating is None:
        Feedback.objects.filter(message=message).delete()
    else:
        Feedback.objects.update_or_create(
            message=message, defaults={"rating": rating, "comment": comment.strip()}
        )
    return Message.objects.select_related("feedback").get(pk=message.pk)


# --- Staff review -------------------------------------------------------------------
# What users and the model said is never changed here: staff set a review state and a
# note, and every look at a conversation leaves an audit record. Staff with the delete
# permission may delete whole conversations (erasure), audited too.


def audit_record(
    *, actor: User, action: str, conversation_ids: Iterable[uuid.UUID | str], detail: str = ""
) -> None:
    """One audit row per conversation a staff member viewed, exported, watched or reviewed."""
    AuditEvent.objects.bulk_create(
        AuditEvent(
            actor=actor,
            actor_name=actor.get_username(),
            action=action,
            conversation_id=conversation_id,
            detail=detail[:300],
        )
        for conversation_id in conversation_ids
    )


@transaction.atomic
def conversation_review_save(*, conversation: Conversation, reviewer: User, reviewed: bool) -> None:
    """Save a conversation's review fields (state and staff note) as the staff form left
    them, and nothing else: not its title, not `updated` (the user's last activity).
    `reviewed` (the state or the note changed) records who reviewed it, when, and audits it."""
    if reviewed:
        conversation.reviewed_by = reviewer
        conversation.reviewed_at = timezone.now()
        audit_record(
            actor=reviewer,
            action=AuditEvent.Action.REVIEW,
            conversation_ids=[conversation.pk],
            detail=f"state={conversation.review_state}",
        )
    Conversation.objects.filter(pk=conversation.pk).update(
        review_state=conversation.review_state,
        staff_note=conversation.staff_note,
        reviewed_by=conversation.reviewed_by,
        reviewed_at=conversation.reviewed_at,
    )


@transaction.atomic
def conversations_set_review_state(
    *, reviewer: User, conversation_ids: list[uuid.UUID | str], state: str
) -> int:
    """Set the review state of many conversations at once, audited; returns how many."""
    Conversation.objects.filter(pk__in=conversation_ids).update(
        review_state=state, reviewed_by=reviewer, reviewed_at=timezone.now()
    )
    audit_record(
        actor=reviewer,
        action=AuditEvent.Action.REVIEW,
        conversation_ids=conversation_ids,
        detail=f"state={state}",
    )
    return len(conversation_ids)


class ConversationDeleteFailed(Exception):
    """A staff delete failed as a whole: nothing was deleted and nothing audited."""


def conversations_delete_by_staff(*, actor: User, conversations: Iterable[Conversation]) -> int:
    """Staff delete conversations (the admin), all or none: each goes through
    `conversation_delete`, so its running answer is told to stop, and leaves an audit
    record of who deleted it and whose it was. Returns how many were deleted."""
    deleted = 0
    try:
        with transaction.atomic():
            for conversation in conversations:
                audit_record(
                    actor=actor,
                    action=AuditEvent.Action.DELETE,
                    conversation_ids=[conversation.pk],
                    detail=f"owner={conversation.owner.get_username()}",
                )
                conversation_delete(conversation=conversation)
                deleted += 1
    except DatabaseError as exc:
        logger.exception("staff delete by %s failed", actor.get_username())
        raise ConversationDeleteFailed(
            "Nothing was deleted: the database refused the delete. Try again."
        ) from exc
    except Exception as exc:  # the stop request: the channel layer (Redis) is down
        logger.exception("staff delete by %s failed", actor.get_username())
        raise ConversationDeleteFailed(
            "Nothing was deleted: a running answer could not be told to stop (the "
            "server's message bus is unavailable). Try again in a moment."
        ) from exc
    return deleted


# --- Share links (docs/DESIGN.md, "Share links") ------------------------------------


SHARE_TOKEN_BYTES = 24  # 32 URL-safe characters: 192 random bits
NOTHING_TO_SHARE = _("This conversation has no messages yet: there is nothing to share.")


def share_create(
    *, conversation: Conversation, scope: str, lifetime: timedelta | None
) -> ShareLink:
    """A new link to the conversation as it stands: its messages frozen into a snapshot
    (snapshots.build_snapshot). Refused (NOT_ALLOWED, 409) for a conversation with no
    messages, or when its owner has SHARE_MAX_ACTIVE_PER_USER active links."""
    limit = django_settings.SHARE_MAX_ACTIVE_PER_USER
    if limit > 0 and selectors.share_active_count(user_id=conversation.owner_id) >= limit:
        raise Refusal(
            ErrorCode.NOT_ALLOWED,
            format_lazy(
                _("You have {limit} active share links: revoke one before making another."),
                limit=limit,
            ),
        )
    messages = list(Message.objects.filter(conversation=conversation).order_by("created", "pk"))
    if not messages:
        raise Refusal(ErrorCode.NOT_ALLOWED, NOTHING_TO_SHARE)
    leaf = Conversation.objects.filter(pk=conversation.pk).values_list("leaf_id", flat=True)
    saved_leaf = leaf.first()
    snapshot = snapshots.build_snapshot(
        title=conversation.title or derive_title(messages[0].content) or "Shared conversation",
        scope=scope,
        messages=messages,
        leaf_id=str(saved_leaf) if saved_leaf else None,
    )
    return ShareLink.objects.create(
        conversation=conversation,
        token=secrets.token_urlsafe(SHARE_TOKEN_BYTES),
        scope=scope,
        snapshot=snapshot,
        message_count=len(snapshot["messages"]),
        expires=None if lifetime is None else timezone.now() + lifetime,
    )


def share_revoke(*, share: ShareLink, by_staff: User | None = None) -> bool:
    """Revoke the link (its page answers 410 from now on); by staff, audited. False
    when it was revoked already (nothing changes, nothing is audited)."""
    why = ShareLink.Revocation.ADMIN if by_staff is not None else ShareLink.Revocation.OWNER
    with transaction.atomic():
        changed = ShareLink.objects.filter(pk=share.pk, revoked__isnull=True).update(
            revoked=timezone.now(), revoked_why=why
        )
        if changed and by_staff is not None:
            audit_record(
                actor=by_staff,
                action=AuditEvent.Action.REVOKE_SHARE,
                conversation_ids=[share.conversation_id],
                detail=f"share={share.pk}",
            )
    share.refresh_from_db(fields=["revoked", "revoked_why"])
    return bool(changed)


def share_viewed(*, share: ShareLink) -> None:
    """Count one view of the shared page, in the database (every process counts)."""
    ShareLink.objects.filter(pk=share.pk).update(views=F("views") + 1, last_viewed=Now())
