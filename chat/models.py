"""Conversations and their messages; the saved content is the source of truth."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.contrib.auth.models import _User

    # The model AUTH_USER_MODEL names (django-stubs' plugin resolves it): for annotations.
    User: TypeAlias = _User


class ApiToken(models.Model):
    """A user's personal API token: `Authorization: Bearer <raw>` for scripts and
    non-browser clients. Only the raw token's SHA-256 is kept (chat/tokens.py)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The start of the raw token, shown so that its owner recognises it.
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    class Scope(models.TextChoices):
        FULL = "full", _("full access")
        READ = "read", _("read only")
        V1 = "v1", _("the OpenAI-compatible /v1 API only")

    class Revocation(models.TextChoices):
        OWNER = "owner", _("by its owner")
        ADMIN = "admin", _("by an administrator")
        PASSWORD = "password", _("when the password changed")

    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.FULL)
    expires = models.DateTimeField(null=True, blank=True)  # None: never
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_why = models.CharField(max_length=16, choices=Revocation.choices, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked is None

    @property
    def has_expired(self) -> bool:
        return self.expires is not None and self.expires <= timezone.now()


class Conversation(models.Model):
    class Review(models.TextChoices):
        UNREVIEWED = "unreviewed", _("Unreviewed")
        REVIEWED = "reviewed", _("Reviewed")
        FLAGGED = "flagged", _("Flagged")

    class Source(models.TextChoices):
        WEB = "web", _("browser")
        API = "api", _("HTTP streaming API")
        OPENAI = "openai", _("OpenAI-compatible API")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    # Staff review: never shown to the user, never touches what was said.
    review_state = models.CharField(
        max_length=16, choices=Review.choices, default=Review.UNREVIEWED, db_index=True
    )
    staff_note = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # The last message of the path the conversation shows and continues (its messages
    # form a tree: regenerated answers and edited questions are siblings).
    leaf = models.ForeignKey(
        "Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Which configured model answers next (blank: the default), and the instructions
    # it gets instead of the operator's default system prompt (blank: the default).
    model = models.CharField(max_length=100, blank=True)
    instructions = models.TextField(blank=True)
    temperature = models.FloatField(null=True, blank=True)
    # Where it was started, and with which API token (null: in the browser).
    source = models.CharField(
        max_length=16, choices=Source.choices, default=Source.WEB, db_index=True
    )
    api_token = models.ForeignKey(
        ApiToken,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
    )
    # When its owner pinned it (listed first) or archived it (listed apart); null: not.
    # Archived is never pinned (services.conversation_marks).
    pinned = models.DateTimeField(null=True, blank=True)
    archived = models.DateTimeField(null=True, blank=True)
    # A temporary chat: never listed nor found by search, gone at this time (the sweep
    # deletes it); null: kept. Staff review it like any other while it exists.
    expires = models.DateTimeField(null=True, blank=True, db_index=True)
    # Imported (chat/conversations/porting/): its source file's key (the source, its
    # conversation id and content, hashed), so that importing it again adds nothing.
    import_key = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-updated"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "import_key"],
                condition=~Q(import_key=""),
                name="unique_import_key_per_owner",
            )
        ]
        indexes = [
            models.Index(fields=["owner", "-updated"]),
            models.Index(fields=["created"]),
            models.Index(fields=["updated"]),  # retention: the oldest first
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.id}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", _("User")
        ASSISTANT = "assistant", _("Assistant")

    class Status(models.TextChoices):
        STREAMING = "streaming", _("Streaming")
        COMPLETE = "complete", _("Complete")
        STOPPED = "stopped", _("Stopped")
        ERROR = "error", _("Error")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    # The message this one follows (null: the conversation's first). Siblings are
    # alternatives: the answers of a regenerate, the questions of an edit.
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.COMPLETE, db_index=True
    )
    # Sent by the browser with a user message so that a resend is idempotent.
    client_id = models.CharField(max_length=64, null=True, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    total_tokens = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Why an answer ended in error (an errors.ErrorCode); empty otherwise.
    error_code = models.CharField(max_length=32, blank=True)
    # Why the model stopped, as it said ("length": cut off by the token limit).
    finish_reason = models.CharField(max_length=32, blank=True)
    # The tokens held against the owner's daily budget while the answer streams (its
    # estimate, quotas.reservation); counted only while `streaming`, settled at its end.
    reserved_tokens = models.PositiveIntegerField(default=0)
    # An `assistant` turn an API client sent in its history (/v1): the client's text,
    # not the model's; staff must not take it for an answer.
    supplied_by_client = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    # A streaming answer's heartbeat, always by the database's clock (the default at
    # creation, `Now()` at every progress save): one whose `updated` is old belongs to
    # a process that died (chat/conversations/liveness.py).
    updated = models.DateTimeField(db_default=Now())

    # Not columns: set by the selectors that read a message with its place in the tree
    # (messages_on_path, conversation_transcript).
    siblings: list[str]  # its alternatives' ids, its own included, oldest first
    version: int  # its place among them, from 1
    alternatives: list[tuple[Message, int]]  # the other branches' messages, with depth
    files: list[Attachment]  # the files a question carries (selectors.with_files)

    class Meta:
        ordering = ["created"]
        indexes = [models.Index(fields=["conversation", "created"])]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=Q(client_id__isnull=False),
                name="unique_client_id_per_conversation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:50]}"

    @property
    def usage(self) -> dict[str, int | None] | None:
        if self.total_tokens is None:
            return None
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }


class Feedback(models.Model):
    """A user's thumbs up or down on one assistant answer (one per answer, changeable)."""

    class Rating(models.IntegerChoices):
        UP = 1, _("thumbs up")
        DOWN = -1, _("thumbs down")

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="feedback")
    rating = models.SmallIntegerField(choices=Rating.choices)
    comment = models.TextField(blank=True, max_length=2000)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.get_rating_display()} on {self.message_id}"


class AuditEvent(models.Model):
    """Who on the staff looked at, searched, exported or deleted which conversation, and when.

    Keeps the conversation id as a plain value: the record outlives a deleted
    conversation.
    """

    class Action(models.TextChoices):
        VIEW = "view"
        EXPORT_JSON = "export_json"
        EXPORT_CSV = "export_csv"
        LIVE_TAIL = "live_tail"
        REVIEW = "review"
        SEARCH = "search"  # a changelist search over message text showed these
        DELETE = "delete"
        REVOKE_SHARE = "revoke_share"  # a share link of it revoked by staff
        VIEW_FILE = "view_file"  # a file attached to one of its messages fetched by staff

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=16, choices=Action.choices)
    conversation_id = models.UUIDField(db_index=True)
    detail = models.CharField(max_length=300, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.conversation_id}"


class Summary(models.Model):
    """A model's summary of a conversation's path from its root to `covers` inclusive
    (issue #25): sent ahead of the recent turns once the path passes
    CHAT_HISTORY_CHAR_BUDGET. Kept per branch point, and used only while `covers` is
    on the path being continued: an edit or regenerate before it leaves it behind."""

    class Status(models.TextChoices):
        READY = "ready"
        FAILED = "failed"  # the model call failed: today's cut is sent instead
        CLEARED = "cleared"  # its owner cleared it: today's cut until a new one

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="summaries"
    )
    covers = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    text = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    edited = models.BooleanField(default=False)  # its text is its owner's
    error_code = models.CharField(max_length=32, blank=True)  # FAILED: an errors.ErrorCode
    # The call that wrote it, recorded as an answer's is.
    model_name = models.CharField(max_length=200, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    total_tokens = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "summaries"
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "covers"], name="unique_summary_per_branch_point"
            )
        ]

    def __str__(self) -> str:
        return f"summary of {self.conversation_id} up to {self.covers_id}"


class UserQuota(models.Model):
    """A user's rate and budget counters for the chat.

    They outlive conversations (deleting one resets nothing), and the row is locked
    while that user's answers start, so every server process counts the same sends.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="chat_quota",
    )
    # When the user's messages of the last minute were sent (ISO 8601, oldest first;
    # at most CHAT_RATE_LIMIT_PER_MINUTE of them).
    recent_sends = models.JSONField(default=list, blank=True)
    day = models.DateField(null=True, blank=True)  # the UTC day `tokens_day` counts
    tokens_day = models.PositiveBigIntegerField(default=0)
    # When the user last created conversations, presets and searched (ISO 8601 times of
    # the last minute, oldest first, by action): quotas.throttle.
    recent_actions = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"quota of user {self.user_id}"


class Preset(models.Model):
    """A user's saved way to start a conversation: instructions, model, temperature."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_presets"
    )
    name = models.CharField(max_length=100)
    instructions = models.TextField(blank=True)
    model = models.CharField(max_length=100, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="unique_preset_name_per_owner")
        ]

    def __str__(self) -> str:
        return self.name


class SpeechUsage(models.Model):
    """Characters a user had spoken by the server's engine on one UTC day
    (SPEECH_MAX_CHARS_PER_DAY, chat/speech/quota.py); the row is reused each day."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="chat_speech_usage",
    )
    day = models.DateField()
    chars = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"speech of user {self.user_id} on {self.day}"


class UserPreferences(models.Model):
    """How a user wants the chat: the page's appearance, and the instructions a new
    conversation starts with. No row: the defaults (made on the first save)."""

    class Theme(models.TextChoices):
        SYSTEM = "system", _("System")
        LIGHT = "light", _("Light")
        DARK = "dark", _("Dark")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="chat_preferences",
    )
    theme = models.CharField(max_length=8, choices=Theme.choices, default=Theme.SYSTEM)
    # Copied into each new conversation that is given no instructions (nor a preset's):
    # from then on they are that conversation's own; a later change here leaves it be.
    default_instructions = models.TextField(blank=True)
    # The server voice that speaks this user's answers in voice mode: an espeak-ng
    # voice, a VOICEVOX speaker id or the speech server's voice ("": the operator's).
    speech_voice = models.CharField(max_length=40, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "user preferences"
        verbose_name_plural = "user preferences"

    def __str__(self) -> str:
        return f"preferences of user {self.user_id}"


class WebhookSubscription(models.Model):
    """A URL that receives the answers of one conversation, or of all its owner's, in
    chunks (docs/DESIGN.md, "Webhooks")."""

    class Mode(models.TextChoices):
        LINE = "line", _("line")
        SENTENCE = "sentence", _("sentence")
        CLAUSE = "clause", _("clause")
        END = "end", _("whole answer")

    class Format(models.TextChoices):
        JSON = "json", _("JSON")
        SLACK = "slack", _("Slack")
        DISCORD = "discord", _("Discord")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_webhooks"
    )
    # Null: every conversation of the owner's. Staff may name another user's (the admin).
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="webhooks"
    )
    url = models.URLField(max_length=2000)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.SENTENCE)
    format = models.CharField(max_length=16, choices=Format.choices, default=Format.JSON)
    secret = models.CharField(max_length=64, editable=False)
    active = models.BooleanField(default=True)  # False: paused (by its owner or by failures)
    paused_reason = models.CharField(max_length=500, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["owner", "active"], name="webhook_owner_active")]

    def __str__(self) -> str:
        return f"webhook {self.pk} of user {self.owner_id}"


class WebhookDelivery(models.Model):
    """One chunk (or an answer's final word) for one subscription: the outbox row a
    delivery worker claims, posts and marks."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    message_id = models.UUIDField()  # the answer (a value: it outlives the message)
    seq = models.PositiveIntegerField()
    body = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When it may be tried next; a claimed row's lease (a dead claimer's row is due again).
    next_attempt_at = models.DateTimeField(db_default=Now())
    last_error = models.CharField(max_length=500, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "message_id", "seq"], name="unique_webhook_seq"
            )
        ]
        indexes = [
            models.Index(
                fields=["subscription", "id"],
                name="webhook_pending",
                condition=Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"delivery {self.message_id}#{self.seq} to webhook {self.subscription_id}"


class SignedInSession(models.Model):
    """A browser session its user is signed in with (the account page lists them):
    recorded at log-in, `last_seen` moved on by its pages and sockets, at most once a
    minute (chat/accounts/sessions.py). The session itself is Django's."""

    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signed_in_sessions"
    )
    user_agent = models.CharField(max_length=300, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"session of {self.user_id} seen {self.last_seen:%Y-%m-%d %H:%M}"


class ShareLink(models.Model):
    """A read-only link to a conversation as it stood when shared: `/s/<token>/`
    (docs/DESIGN.md, "Share links"). The transcript is a frozen JSON snapshot
    (chat/conversations/snapshots.py), not a view of the live rows: what is said
    after sharing, edited or deleted does not change it."""

    class Scope(models.TextChoices):
        BRANCH = "branch", "the branch shown"
        TREE = "tree", "the whole tree with its versions"

    class Revocation(models.TextChoices):
        OWNER = "owner", "by its owner"
        ADMIN = "admin", "by an administrator"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="share_links"
    )
    # The link's secret (secrets.token_urlsafe): kept as is, so that its owner can copy
    # the link again from the list.
    token = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.BRANCH)
    snapshot = models.JSONField()
    message_count = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField(null=True, blank=True)  # None: never
    revoked = models.DateTimeField(null=True, blank=True)
    revoked_why = models.CharField(max_length=8, choices=Revocation.choices, blank=True)
    views = models.PositiveIntegerField(default=0)
    last_viewed = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["conversation", "-created"], name="share_conversation")]

    def __str__(self) -> str:
        return f"share {self.pk} of {self.conversation_id}"

    def state(self, now: datetime | None = None) -> str:
        """ "active", "revoked" or "expired" (revoked wins: it is what its owner did)."""
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= (now or timezone.now()):
            return "expired"
        return "active"


class SlackUser(models.Model):
    """A Slack user mapped to a local account: their answers are owned by `user`
    (an unmapped one's by the SLACK_SERVICE_USER). Operators add rows in the admin."""

    slack_user_id = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_users"
    )
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Slack {self.slack_user_id} -> user {self.user_id}"


class SlackThread(models.Model):
    """A Slack thread (channel, thread ts) and the conversation that answers in it."""

    channel = models.CharField(max_length=64)
    thread_ts = models.CharField(max_length=32)
    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="slack_thread"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "thread_ts"], name="unique_slack_thread")
        ]

    def __str__(self) -> str:
        return f"Slack thread {self.channel}/{self.thread_ts}"


class SlackEvent(models.Model):
    """An event from Slack already taken: a retry or a second event for the same
    message (a mention that is also a DM) finds its row and starts nothing."""

    event_id = models.CharField(max_length=64, unique=True)
    message_key = models.CharField(max_length=100, unique=True)  # "<channel>:<ts>"
    received = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Slack event {self.event_id}"


class Attachment(models.Model):
    """A file a user attached to a message (issue #25): sent to the model with it as
    text (text files, PDFs) or as an image. Unsent (no message yet) until the message
    that carries it is saved; deleted, with its stored file, with its conversation."""

    class Kind(models.TextChoices):
        TEXT = "text", _("text")
        PDF = "pdf", _("PDF")
        IMAGE = "image", _("image")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_attachments"
    )
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attachments",
    )
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    # Stored under attachments/<owner id>/ by a random name, never the name it was sent
    # with (attachments.attachment_create).
    file = models.FileField(upload_to="attachments", max_length=200)
    name = models.CharField(max_length=200)  # as sent, sanitised: shown and downloaded as
    size = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    mime = models.CharField(max_length=100)  # detected from the content, not the name
    text = models.TextField(blank=True)  # a text file's or a PDF's text, capped
    sha256 = models.CharField(max_length=64)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created"]
        indexes = [models.Index(fields=["owner", "created"])]

    def __str__(self) -> str:
        return self.name
