"""The signed-in user's appearance in the pages: `{% theme_attribute %}` on <html>
(`data-theme="light"` or `"dark"`, nothing for "system": the CSS then follows the
device), and `{% code_theme_media "light" %}`, the `media` of a code colouring
stylesheet. Signed out (log-in, sign-up), pages follow the device."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from chat.accounts.preferences import preferences_of_request
from chat.models import UserPreferences

register = template.Library()

# What each code stylesheet's `media` is when the page follows the device.
SYSTEM_MEDIA = {
    "light": "(prefers-color-scheme: light), (prefers-color-scheme: no-preference)",
    "dark": "(prefers-color-scheme: dark)",
}


def page_theme(context: Any) -> str:
    """The page's theme: light, dark, or "" (the device's)."""
    request = context.get("request")
    preferences = preferences_of_request(request) if request is not None else None
    if preferences is None or preferences.theme == UserPreferences.Theme.SYSTEM:
        return ""
    return str(preferences.theme)


@register.simple_tag(takes_context=True)
def theme_attribute(context: Any) -> SafeString:
    theme = page_theme(context)
    return format_html(' data-theme="{}"', theme) if theme else SafeString("")


@register.simple_tag(takes_context=True)
def code_theme_media(context: Any, scheme: str) -> str:
    theme = page_theme(context)
    if not theme:
        return SYSTEM_MEDIA[scheme]
    return "all" if theme == scheme else "not all"


@register.simple_tag(takes_context=True)
def color_scheme(context: Any) -> str:
    """The <meta name="color-scheme"> content: what the browser paints before the CSS."""
    return page_theme(context) or "light dark"
