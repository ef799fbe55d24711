"""The Slack bot in the admin: staff map a Slack user id (U…) to a local account, whose
answers those become; threads and the events taken are read-only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from chat.models import SlackEvent, SlackThread, SlackUser


@admin.register(SlackUser)
class SlackUserAdmin(admin.ModelAdmin):
    list_display = ("slack_user_id", "user", "created")
    search_fields = ("slack_user_id", "user__username")
    autocomplete_fields = ("user",)


class SlackReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SlackThread)
class SlackThreadAdmin(SlackReadOnlyAdmin):
    list_display = ("channel", "thread_ts", "conversation", "created")
    search_fields = ("channel", "thread_ts")


@admin.register(SlackEvent)
class SlackEventAdmin(SlackReadOnlyAdmin):
    list_display = ("event_id", "message_key", "received")
    search_fields = ("event_id", "message_key")
