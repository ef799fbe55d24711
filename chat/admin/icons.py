"""Small inline SVG icons for server-rendered pages: no emoji (a machine without an
emoji font shows empty boxes) and no icon font. Drawn like the chat page's copy icon:
24-unit paths stroked in `currentColor`, so they follow the text colour and dark mode."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

# A thumb up: the cuff on the left, the hand with its raised thumb; down is the same
# drawing turned upside down.
THUMB_PATHS = (
    '<path d="M3 11h4v10H3z"/>'
    '<path d="M7 11l4-8a2 2 0 0 1 3 2v4h5a2 2 0 0 1 2 2.3l-1.4 7.3A2 2 0 0 1 17.6 21H7"/>'
)
THUMB_LABELS = {"up": _("thumbs up"), "down": _("thumbs down")}


def thumb_icon(direction: str) -> SafeString:
    """A thumb icon, `direction` "up" or "down", with its text alternative (a title
    shown on hover and read by screen readers)."""
    label = THUMB_LABELS[direction]
    turn = "" if direction == "up" else ' transform="rotate(180 12 12)"'
    return format_html(
        '<svg class="icon thumb thumb-{}" viewBox="0 0 24 24" width="16" height="16" '
        'role="img" aria-label="{}" focusable="false"><title>{}</title>'
        '<g fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round"{}>'
        "{}</g></svg>",
        direction,
        label,
        label,
        SafeString(turn),
        SafeString(THUMB_PATHS),
    )
