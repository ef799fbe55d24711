"""The language a WebSocket speaks to its user: its handshake's, as a page's would be.

Channels activates no language (LocaleMiddleware runs for HTTP only), so the consumer
finds it at connect from the scope, as Django does from a request: the language
switch's cookie first, then `Accept-Language`, then LANGUAGE_CODE. It renders the
sentences of the frames it sends in it (`localize`): refusals' (lazy translations)
and the errors saved on answers in English (looked up in the catalogue; a sentence
not in it goes out as it is). Model output is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http.cookies import SimpleCookie
from types import SimpleNamespace
from typing import Any

from django.utils import translation

from chat.provider.llm import HTTP_ERROR
from chat.provider.reach import UNREACHABLE
from chat.streaming.delivery.frames import Frame


def scope_language(scope: Mapping[str, Any]) -> str:
    """The language code the handshake in `scope` asks for (one of LANGUAGES)."""
    headers = {name.decode("latin-1").lower(): value for name, value in scope.get("headers", [])}
    cookies = scope.get("cookies")
    if cookies is None:  # a socket without Channels' CookieMiddleware (an API token's)
        jar = SimpleCookie(headers.get("cookie", b"").decode("latin-1"))
        cookies = {name: morsel.value for name, morsel in jar.items()}
    request = SimpleNamespace(
        COOKIES=cookies,
        META={"HTTP_ACCEPT_LANGUAGE": headers.get("accept-language", b"").decode("latin-1")},
    )
    return translation.get_language_from_request(request)  # type: ignore[arg-type]


def _pattern(template: str) -> re.Pattern[str]:
    """A template's English with each `%(name)s` a named group: reads its parts back."""
    parts = re.split(r"%\((\w+)\)s", template)
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        + r"\Z"
    )


# Saved sentences with a part of their own (a host, a status): their templates.
TEMPLATES = [(template, _pattern(template)) for template in (UNREACHABLE, HTTP_ERROR)]


def _sentence(text: object) -> object:
    """`text` in the active language: a lazy translation rendered, an English sentence
    of the catalogue translated (one of TEMPLATES with its parts, themselves translated
    when the catalogue has them: a reason, never a host), anything else as it is."""
    if text is None or text == "":
        return text
    english = str(text)
    for template, pattern in TEMPLATES:
        match = pattern.match(english)
        if match:
            parts = {name: translation.gettext(part) for name, part in match.groupdict().items()}
            return translation.gettext(template) % parts
    return translation.gettext(english)


def _message_errors(messages: list[Any]) -> list[Any]:
    return [
        {**m, "error": _sentence(m["error"])} if isinstance(m, dict) and m.get("error") else m
        for m in messages
    ]


# The frames with a sentence for the user; the others (every chunk) go out as they are.
WORDED = frozenset({"error", "voice_notice", "end", "history", "older"})


def localize(frame: Frame, language: str) -> Frame:
    """The frame with its sentences for the user in `language`; its codes, ids and
    every model-written text unchanged."""
    kind = frame.get("type")
    if kind not in WORDED:
        return frame
    with translation.override(language):
        if kind in ("error", "voice_notice") and "message" in frame:
            return {**frame, "message": _sentence(frame["message"])}
        if kind == "end" and frame.get("error"):
            return {**frame, "error": _sentence(frame["error"])}
        if kind in ("history", "older") and isinstance(frame.get("messages"), list):
            return {**frame, "messages": _message_errors(frame["messages"])}
    return frame
