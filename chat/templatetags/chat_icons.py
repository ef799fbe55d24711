"""`{% thumb "up" %}` in templates: the same icon as the admin's feedback column."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from chat.admin.icons import thumb_icon

register = template.Library()


@register.simple_tag
def thumb(direction: str) -> SafeString:
    return thumb_icon(direction)
