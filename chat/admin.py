"""Staff review of conversations, read-only: what users and the model said is never edited."""

from __future__ import annotations

from django.contrib import admin

from .models import Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = (
        "created",
        "role",
        "status",
        "content",
        "model_name",
        "ttft_ms",
        "duration_ms",
        "total_tokens",
        "error",
    )
    readonly_fields = fields
    ordering = ("created",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "created", "updated")
    list_select_related = ("owner",)
    list_filter = ("created",)
    search_fields = ("title", "owner__username")
    date_hierarchy = "created"
    readonly_fields = ("id", "owner", "title", "created", "updated")
    inlines = [MessageInline]

    def has_add_permission(self, request) -> bool:
        return False
