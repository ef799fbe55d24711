"""Share links in the admin: staff see which conversations are shared, how much each
link was viewed and when it expires, and may revoke any link (audited: an AuditEvent
`revoke_share` per link). The snapshot is not shown here: a conversation's own page
shows what it says, and is audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.db.models.functions import Now
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from chat.conversations import services
from chat.models import ShareLink


class ShareStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", _("active")), ("expired", _("expired")), ("revoked", _("revoked"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        live = queryset.filter(revoked__isnull=True)
        if self.value() == "active":
            return live.filter(Q(expires__isnull=True) | Q(expires__gt=Now()))
        if self.value() == "expired":
            return live.filter(expires__lte=Now())
        if self.value() == "revoked":
            return queryset.filter(revoked__isnull=False)
        return queryset


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    """Listed, searched by owner or conversation, revoked; never added (its owner makes
    it), edited or deleted (a revoked link stays on record)."""

    list_display = (
        "created",
        "conversation_link",
        "owner",
        "scope",
        "message_count",
        "views",
        "last_viewed",
        "expires",
        "state_shown",
        "revoked_why",
    )
    list_select_related = ("conversation__owner",)
    list_filter = (ShareStateFilter, "scope", "created")
    search_fields = ("conversation__owner__username", "=conversation__id")
    date_hierarchy = "created"
    fields = (
        "conversation",
        "scope",
        "message_count",
        "created",
        "expires",
        "views",
        "last_viewed",
        "revoked",
        "revoked_why",
    )
    readonly_fields = fields
    actions = ["revoke_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ShareLink]:
        return super().get_queryset(request).defer("snapshot", "token")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("conversation"), ordering="conversation__title")
    def conversation_link(self, obj: ShareLink) -> SafeString:
        url = reverse("admin:chat_conversation_change", args=[obj.conversation_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.conversation))

    @admin.display(description=_("owner"), ordering="conversation__owner__username")
    def owner(self, obj: ShareLink) -> str:
        return obj.conversation.owner.get_username()

    @admin.display(description=_("state"))
    def state_shown(self, obj: ShareLink) -> str:
        return obj.state()

    @admin.action(description=_("Revoke selected share links"), permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ShareLink]) -> None:
        revoked = sum(
            services.share_revoke(share=share, by_staff=request.user)  # type: ignore[arg-type]
            for share in queryset.filter(revoked__isnull=True)
        )
        self.message_user(
            request,
            gettext("%(count)d share link(s) revoked.") % {"count": revoked},
            messages.SUCCESS,
        )
