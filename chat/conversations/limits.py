"""Bounds of a conversation's settings, the same on every door (forms, /v1)."""

from __future__ import annotations

MAX_INSTRUCTIONS_CHARS = 8000
MAX_TEMPERATURE = 2.0
