"""Conversation review for staff: find, read, flag and export conversations.

What users and the model said is read-only here, always: staff can only set the
review state and a note. Every page that shows what a conversation says (its
transcript, the conversation and message lists, a message-text search, an export,
the live tail) is audited, and so is a delete, which also stops the conversation's running answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import actions as admin_actions
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from chat.accounts import api_tokens as tokens
from chat.admin import transcripts as review
from chat.admin.icons import thumb_icon
from chat.conversations import selectors, services, summaries
from chat.models import ApiToken, AuditEvent, Conversation, Feedback, Message


def _last_answer(field: str) -> Subquery:
    return Subquery(
        Message.objects.filter(conversation=OuterRef("pk"), role=Message.Role.ASSISTANT)
        .order_by("-created")
        .values(field)[:1]
    )


def _per_conversation(queryset: QuerySet, link: str, aggregate: Any) -> Subquery:
    """An aggregate over a conversation's rows as a correlated subquery: it cannot be
    multiplied by the joins that search and filters add to the main query."""
    return Subquery(
        queryset.filter(**{link: OuterRef("pk")})
        .order_by()
        .values(link)
        .annotate(value=aggregate)
        .values("value")[:1]
    )


class ModelFilter(admin.SimpleListFilter):
    title = _("model")
    parameter_name = "model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = (
            Message.objects.filter(role=Message.Role.ASSISTANT)
            .exclude(model_name="")
            .values_list("model_name", flat=True)
            .distinct()
            .order_by("model_name")
        )
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        used = Message.objects.filter(conversation=OuterRef("pk"), model_name=self.value())
        return queryset.filter(Exists(used))


class LastStatusFilter(admin.SimpleListFilter):
    title = _("last answer")
    parameter_name = "last_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(Message.Status.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(last_status=self.value()) if self.value() else queryset


class FeedbackFilter(admin.SimpleListFilter):
    title = _("feedback")
    parameter_name = "feedback"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("down", _("has thumbs down")),
            ("up", _("has thumbs up")),
            ("none", _("no feedback")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        rated = Feedback.objects.filter(message__conversation=OuterRef("pk"))
        if self.value() == "down":
            return queryset.filter(Exists(rated.filter(rating=Feedback.Rating.DOWN)))
        if self.value() == "up":
            return queryset.filter(Exists(rated.filter(rating=Feedback.Rating.UP)))
        if self.value() == "none":
            return queryset.filter(~Exists(rated))
        return queryset


def _download(content: AsyncIterator[str], content_type: str, filename: str) -> HttpResponse:
    """An export streamed from an async iterator: under ASGI it is read on the event
    loop, a chunk of rows at a time (see review.py), never held whole."""
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _audit_changelist(
    request: HttpRequest,
    response: HttpResponse,
    *,
    action: str,
    conversation_of: Callable[[Any], Any],
    detail: str = "",
) -> None:
    """Changelist pages that tell what conversations say (their titles, a message-text
    search, the message list's text) audit each conversation their page of rows
    showed, once."""
    changelist = (getattr(response, "context_data", None) or {}).get("cl")
    if changelist is None or response.status_code != 200:
        return
    shown = list(dict.fromkeys(conversation_of(row) for row in changelist.result_list))
    if shown:
        services.audit_record(
            actor=request.user, action=action, conversation_ids=shown, detail=detail
        )


def _is_autocomplete(request: HttpRequest) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.url_name == "autocomplete"


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "title_or_id", "owner_name", "message_count", "last_activity", "last_model", "last_status",
        "feedback", "review_state", "source",
    )  # fmt: skip
    list_select_related = ("owner",)
    list_filter = (
        "review_state", "source", ("owner", admin.RelatedOnlyFieldListFilter), "created",
        ModelFilter, LastStatusFilter, FeedbackFilter,
    )  # fmt: skip
    search_fields = ("title", "owner__username", "messages__content")
    date_hierarchy = "created"
    list_per_page = 50
    # What the model was told to do, beside who and when: a reviewer reads an answer
    # against its conversation's model, temperature and instructions.
    fields = ("title", "owner", "source", "token", "created", "updated", "model_shown",
              "temperature_shown", "instructions_shown", "review_state", "staff_note",
              "reviewed_by", "reviewed_at")  # fmt: skip
    readonly_fields = ("title", "owner", "source", "token", "created", "updated", "model_shown",
                       "temperature_shown", "instructions_shown", "reviewed_by",
                       "reviewed_at")  # fmt: skip
    actions = [
        "mark_reviewed", "mark_flagged", "mark_unreviewed", "export_json", "export_csv",
        "delete_selected",
    ]  # fmt: skip
    change_form_template = "admin/chat/conversation/change_form.html"
    change_list_template = "admin/chat/conversation/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # One query for the page whatever its size: counts and the last answer's
        # status and model come from annotations, not per-row lookups.
        return (
            super()
            .get_queryset(request)
            .annotate(
                message_count=Coalesce(
                    _per_conversation(Message.objects.all(), "conversation", Count("pk")), 0
                ),
                last_activity=_per_conversation(
                    Message.objects.all(), "conversation", Max("created")
                ),
                thumbs_up=Coalesce(
                    _per_conversation(
                        Feedback.objects.filter(rating=Feedback.Rating.UP),
                        "message__conversation",
                        Count("pk"),
                    ),
                    0,
                ),
                thumbs_down=Coalesce(
                    _per_conversation(
                        Feedback.objects.filter(rating=Feedback.Rating.DOWN),
                        "message__conversation",
                        Count("pk"),
                    ),
                    0,
                ),
                last_status=_last_answer("status"),
                last_model=_last_answer("model_name"),
            )
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Title, owner or any message's text. Message text is matched with EXISTS (a
        semi-join) instead of the admin's join + DISTINCT, which took 6.6 s at 100,000
        messages on PostgreSQL (bench/admin_bench.py)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        matching = Message.objects.filter(conversation=OuterRef("pk"), content__icontains=term)
        condition = Q(title__icontains=term) | Q(owner__username__icontains=term)
        return queryset.filter(condition | Exists(matching)), False

    def get_search_fields(self, request: HttpRequest) -> Any:
        # Not for the admin's autocomplete endpoint (no form here uses it): it would
        # answer "which conversations mention X" with no audit record.
        return () if _is_autocomplete(request) else super().get_search_fields(request)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Each row shows the conversation's title, the first words of its first
        message: every conversation a page shows is audited (a view, "conversation
        list"). A search matches message text too, so its results are audited as a
        search, with the term."""
        response = super().changelist_view(request, extra_context)
        term = request.GET.get(SEARCH_VAR, "").strip()
        _audit_changelist(
            request,
            response,
            action=AuditEvent.Action.SEARCH if term else AuditEvent.Action.VIEW,
            conversation_of=lambda conversation: conversation.pk,
            detail=f"q={term}" if term else "conversation list",
        )
        return response

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("conversation"), ordering="title")
    def title_or_id(self, obj: Conversation) -> str:
        return obj.title or f"(untitled) {str(obj.pk)[:8]}"

    @admin.display(description=_("owner"), ordering="owner__username")
    def owner_name(self, obj: Conversation) -> SafeString:
        """On one line, cut with an ellipsis when long (review.css): the whole name in
        its tooltip."""
        name = obj.owner.get_username()
        return format_html('<span class="owner-name" title="{}">{}</span>', name, name)

    @admin.display(description=_("messages"), ordering="message_count")
    def message_count(self, obj: Conversation) -> int:
        return obj.message_count

    @admin.display(description=_("last activity"), ordering="last_activity")
    def last_activity(self, obj: Conversation) -> Any:
        return obj.last_activity or obj.updated

    @admin.display(description=_("model"))
    def last_model(self, obj: Conversation) -> str:
        return obj.last_model or "—"

    @admin.display(description=_("last answer"))
    def last_status(self, obj: Conversation) -> str:
        return obj.last_status or "—"

    @admin.display(description=_("feedback"))
    def feedback(self, obj: Conversation) -> SafeString | str:
        """Icons, not emoji (a machine without an emoji font shows empty boxes)."""
        counts = [("up", obj.thumbs_up), ("down", obj.thumbs_down)]
        shown = [(thumb_icon(direction), count) for direction, count in counts if count]
        if not shown:
            return "—"
        return format_html_join(" ", '<span class="thumbs">{} {}</span>', shown)

    @admin.display(description=_("API token"))
    def token(self, obj: Conversation) -> str:
        """Which of the owner's API tokens started it (name and prefix), if one did."""
        token = obj.api_token
        return f"{token.name} ({token.prefix}…)" if token else "—"

    @admin.display(description=_("model"))
    def model_shown(self, obj: Conversation) -> str:
        return obj.model or "— (the server's default model)"

    @admin.display(description=_("temperature"))
    def temperature_shown(self, obj: Conversation) -> str:
        return "— (the model's default)" if obj.temperature is None else f"{obj.temperature:g}"

    @admin.display(description=_("instructions"))
    def instructions_shown(self, obj: Conversation) -> SafeString | str:
        """The user's text, escaped, its lines kept (the transcript view is audited)."""
        if not obj.instructions.strip():
            return "— (none: only the operator's system prompt)"
        return format_html('<pre class="turn-text instructions">{}</pre>', obj.instructions)

    # --- The transcript page ---------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        conversation = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        shown = conversation is not None and self.has_view_permission(request, conversation)
        if shown:
            extra_context["transcript"] = selectors.conversation_transcript(
                conversation_id=conversation.pk
            )
            extra_context["tail_url"] = f"/ws/admin/tail/{conversation.pk}/"
            summary, plan = summaries.summary_current(conversation_id=conversation.pk)
            extra_context["summary"], extra_context["summary_plan"] = summary, plan
            extra_context["summary_budget"] = settings.CHAT_HISTORY_CHAR_BUDGET
        response = super().change_view(request, object_id, form_url, extra_context)
        if shown and response.status_code == 200:
            # The page shows the transcript: a GET, or a save that failed validation
            # and shows the form again (a save that worked redirects, audited as review).
            services.audit_record(
                actor=request.user,
                action=AuditEvent.Action.VIEW,
                conversation_ids=[conversation.pk],
            )
        return response

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The change history names the conversation by its title: audited as a view."""
        response = super().history_view(request, object_id, extra_context)
        shown = (getattr(response, "context_data", None) or {}).get("object")
        if response.status_code == 200 and isinstance(shown, Conversation):
            services.audit_record(
                actor=request.user,
                action=AuditEvent.Action.VIEW,
                conversation_ids=[shown.pk],
                detail="history",
            )
        return response

    def save_model(self, request: HttpRequest, obj: Conversation, form: Any, change: bool) -> None:
        """Only the review fields are editable; saving them records who reviewed and when."""
        services.conversation_review_save(
            conversation=obj,
            reviewer=request.user,
            reviewed=bool({"review_state", "staff_note"} & set(form.changed_data)),
        )

    # --- Bulk actions -----------------------------------------------------------------

    def _mark(self, request: HttpRequest, queryset: QuerySet, state: str) -> None:
        count = services.conversations_set_review_state(
            reviewer=request.user,
            conversation_ids=list(queryset.values_list("pk", flat=True)),
            state=state,
        )
        marked = {
            Conversation.Review.REVIEWED: gettext("%(count)d conversation(s) marked reviewed."),
            Conversation.Review.FLAGGED: gettext("%(count)d conversation(s) marked flagged."),
            Conversation.Review.UNREVIEWED: gettext("%(count)d conversation(s) marked unreviewed."),
        }[Conversation.Review(state)]
        self.message_user(request, marked % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Mark selected as reviewed"), permissions=["change"])
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._mark(request, queryset, Conversation.Review.REVIEWED)

    @admin.action(description=_("Flag selected for follow-up"), permissions=["change"])
    def mark_flagged(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._mark(request, queryset, Conversation.Review.FLAGGED)

    @admin.action(description=_("Mark selected as unreviewed"), permissions=["change"])
    def mark_unreviewed(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._mark(request, queryset, Conversation.Review.UNREVIEWED)

    @admin.action(description=_("Export selected as JSON"), permissions=["view"])
    def export_json(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        ids = list(queryset.values_list("pk", flat=True))
        services.audit_record(
            actor=request.user, action=AuditEvent.Action.EXPORT_JSON, conversation_ids=ids
        )
        return _download(
            review.export_json(ids), "application/json; charset=utf-8", "conversations.json"
        )

    @admin.action(
        description=_("Export selected as CSV (one row per message)"), permissions=["view"]
    )
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        ids = list(queryset.values_list("pk", flat=True))
        services.audit_record(
            actor=request.user, action=AuditEvent.Action.EXPORT_CSV, conversation_ids=ids
        )
        return _download(review.export_csv(ids), "text/csv; charset=utf-8", "messages.csv")

    # --- Deleting ---------------------------------------------------------------------
    # Erasure, not review: only for staff with `chat.delete_conversation` (superusers
    # have it; reviewers, who view or set review state, do not). A delete goes through
    # services.conversations_delete_by_staff: audited, and any running answer stopped.

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """What a delete removes, told without message text (Django's list would name
        every message by its str(), which starts with its text): the conversations, and
        how many messages and feedback go with them. Those have no delete permission of
        their own here: they go with their conversation, as with the user's own delete."""
        conversations = list(objs)
        counts = selectors.conversations_contents_count(
            conversation_ids=[c.pk for c in conversations]
        )
        listed = [
            format_html(
                '{}: <a href="{}">{}</a>',
                capfirst(Conversation._meta.verbose_name),
                reverse("admin:chat_conversation_change", args=[quote(c.pk)]),
                c,
            )
            for c in conversations
        ]
        summary = {Conversation._meta.verbose_name_plural: len(conversations)}
        summary |= {model._meta.verbose_name_plural: n for model, n in counts.items()}
        return listed, summary, set(), []

    def delete_model(self, request: HttpRequest, obj: Conversation) -> None:
        services.conversations_delete_by_staff(actor=request.user, conversations=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        services.conversations_delete_by_staff(actor=request.user, conversations=queryset)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except services.ConversationDeleteFailed as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.path)

    @admin.action(description=_("Delete selected conversations"), permissions=["delete"])
    def delete_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Django's delete action (its confirmation page, then `delete_queryset`), with
        a failed delete told as a message: nothing was deleted."""
        try:
            with transaction.atomic():
                return admin_actions.delete_selected(self, request, queryset)
        except services.ConversationDeleteFailed as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return None

    # --- Usage overview ----------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        stats = self.admin_site.admin_view(self.stats_view)
        return [path("stats/", stats, name="chat_conversation_stats"), *super().get_urls()]

    def stats_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse("You may not view conversations.", status=403)
        try:
            days = min(max(int(request.GET.get("days", 30)), 1), 366)
        except ValueError:
            days = 30
        context = {
            **self.admin_site.each_context(request),
            "title": _("Usage overview"),
            "opts": self.model._meta,
            "overview": review.usage_overview(days=days),
            "day_choices": [7, 30, 90],
            "selected_days": days,
        }
        return TemplateResponse(request, "admin/chat/stats.html", context)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Listed and searchable; never added, edited or deleted through the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """Messages are evidence: never added, edited or deleted here. The list is for
    finding answers by status, model, timing and tokens; it shows the start of each
    message's text, so each page of it is audited (a view of each conversation it
    showed), and a message's page is its conversation's transcript (audited too)."""

    TEXT_CHARS = 120

    list_display = ("created", "conversation", "role", "text", "status", "model_name",
                    "ttft_ms", "duration_ms", "total_tokens")  # fmt: skip
    list_filter = ("role", "status", "model_name", "created")
    list_select_related = ("conversation",)
    date_hierarchy = "created"
    # No search_fields: a search over text would tell what messages say, unaudited (and
    # give the admin's autocomplete endpoint each message's text, in its str()).

    @admin.display(description=_("text"))
    def text(self, obj: Message) -> str:
        # Plain text (the admin escapes it), on one line, cut at TEXT_CHARS.
        return Truncator(" ".join(obj.content.split())).chars(self.TEXT_CHARS)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        _audit_changelist(
            request,
            response,
            action=AuditEvent.Action.VIEW,
            conversation_of=lambda message: message.conversation_id,
            detail="message list",
        )
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        return self._to_transcript(request, object_id)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return self._to_transcript(request, object_id)

    def _to_transcript(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The message in its conversation's transcript, rather than a page of its own
        that would show its text (a message's str() starts with it) unaudited."""
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("Messages cannot be changed.")
        message = self.get_object(request, unquote(object_id))
        if message is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, message):
            raise PermissionDenied
        url = reverse("admin:chat_conversation_change", args=[quote(message.conversation_id)])
        return HttpResponseRedirect(f"{url}#message-{message.pk}")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Who looked at what: visible to superusers only, and never editable."""

    list_display = ("created", "actor_name", "action", "conversation_id", "detail")
    list_filter = ("action", "created")
    search_fields = ("actor_name", "=conversation_id")
    date_hierarchy = "created"

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser


class TokenStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", _("active")), ("revoked", _("revoked"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("active", "revoked"):
            return queryset.filter(revoked__isnull=self.value() == "active")
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Users' personal API tokens: listed, searched and revoked, never added here (the
    raw token is shown once, to whoever mints it: the user on their token page, or
    `manage.py create_api_token`) nor deleted (a revoked token stays on record). The
    key's hash is never shown."""

    list_display = (
        "name",
        "user",
        "prefix_shown",
        "scope",
        "created",
        "expires",
        "last_used",
        "revoked",
    )
    list_select_related = ("user",)
    list_filter = (TokenStatusFilter, "created", "last_used")
    search_fields = ("user__username", "name", "prefix")
    date_hierarchy = "created"
    fields = (
        "user",
        "name",
        "prefix_shown",
        "scope",
        "created",
        "expires",
        "last_used",
        "last_used_ip",
        "revoked",
        "revoked_why",
    )
    readonly_fields = fields
    actions = ["revoke_selected"]
    change_list_template = "admin/chat/apitoken/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("token"), ordering="prefix")
    def prefix_shown(self, obj: ApiToken) -> str:
        return f"{obj.prefix}…"

    @admin.action(description=_("Revoke selected tokens"), permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        active = list(queryset.filter(revoked__isnull=True))
        for token in active:
            tokens.token_revoke(token=token, why=ApiToken.Revocation.ADMIN)
        self.message_user(
            request,
            gettext("%(count)d token(s) revoked.") % {"count": len(active)},
            messages.SUCCESS,
        )
