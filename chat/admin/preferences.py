"""Users' preferences for staff: a read-only list (appearance, default instructions),
to answer "why does every new chat of mine start with these instructions?"."""

from __future__ import annotations

from django.contrib import admin
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from chat.admin.site import ReadOnlyAdmin
from chat.models import UserPreferences


@admin.register(UserPreferences)
class UserPreferencesAdmin(ReadOnlyAdmin):
    """One row per user who saved preferences (the others have the defaults)."""

    list_display = ("user", "theme", "instructions_preview", "updated")
    list_select_related = ("user",)
    list_filter = ("theme",)
    search_fields = ("user__username",)
    fields = ("user", "theme", "default_instructions", "updated")
    readonly_fields = fields

    @admin.display(description=_("default instructions"))
    def instructions_preview(self, obj: UserPreferences) -> str:
        return Truncator(obj.default_instructions).chars(80) or "—"
