"""The error codes, and the one refusal type every door maps to its own shape.

A `Refusal` is anything the server declines before work is done (nothing is saved):
a bad frame or body, a limit, a conversation that is busy or gone, an outage. Each
door turns it into its bytes exactly once: the WebSocket's `error` frame
(streaming/delivery/frames.py), the JSON API's status and body
(transports/http/responses.py), OpenAI's error object (transports/openai/errors.py).
The codes are also the ones failed answers carry; static/chat/protocol.js mirrors the
list (REJECTED_CODES and its messages).

The sentence is translatable: made with `gettext_lazy` (or `format_lazy`), it stays
lazy on the refusal (`sentence`) and is rendered when a door reads `message`, in that
door's language (the WebSocket's from its handshake, a page's from the request, /v1
always English). The code never changes.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import TYPE_CHECKING, TypeAlias

from django.utils.translation import gettext_noop

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

    # A sentence for the user: plain text, or a lazy translation rendered when read.
    Sentence: TypeAlias = str | _StrPromise


class ErrorCode(StrEnum):
    # A frame or request the server refuses (nothing is saved).
    BAD_FRAME = "bad_frame"
    TOO_LONG = "too_long"
    BUSY = "busy"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    STORAGE_FULL = "storage_full"  # the user's conversations or stored text at their cap
    NOT_FOUND = "not_found"
    READ_ONLY = "read_only"
    UNAVAILABLE = "unavailable"
    SERVER_ERROR = "server_error"
    SPEECH_FAILED = "speech_failed"  # the speech engine could not speak (voice mode)
    # An answer that ended in error (also stored on Message.error_code).
    MODEL_ERROR = "model_error"
    MODEL_UNAVAILABLE = "model_unavailable"
    MODEL_UNREACHABLE = "model_unreachable"  # refused, unknown name, TLS failed
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    # The JSON API.
    NOT_AUTHENTICATED = "not_authenticated"
    BAD_REQUEST = "bad_request"
    INVALID = "invalid"
    NOT_ALLOWED = "not_allowed"
    CSRF_FAILED = "csrf_failed"  # a session's POST without the CSRF token


# The HTTP status of each refusal, for the JSON and streaming APIs (the rest: 400).
HTTP_STATUS = {
    ErrorCode.TOO_LONG: 413,
    ErrorCode.BUSY: 409,
    ErrorCode.NOT_ALLOWED: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.STORAGE_FULL: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.READ_ONLY: 403,
    ErrorCode.CSRF_FAILED: 403,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.SERVER_ERROR: 500,
    ErrorCode.SPEECH_FAILED: 503,
    ErrorCode.MODEL_UNREACHABLE: 502,
}


def http_status(code: ErrorCode) -> int:
    return HTTP_STATUS.get(code, 400)


# Saved on the answer in English (gettext_noop: marked for the catalogue only); the
# WebSocket door shows it in the connection's language.
INTERRUPTED_ERROR = gettext_noop("The answer was interrupted because the server stopped.")


class Refusal(Exception):
    """The server declines: `code`, a sentence for the user, and when known how many
    seconds until a retry may pass; `extra` holds more fields for the door's error
    body (OpenAI's `param`, the message a resend already sent). The HTTP status is the
    code's (HTTP_STATUS) unless `status` says otherwise."""

    code: ErrorCode = ErrorCode.BAD_FRAME

    def __init__(
        self,
        code: ErrorCode | None = None,
        message: Sentence = "",
        *,
        retry_after: float | None = None,
        status: int | None = None,
        **extra: object,  # JSON values
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.sentence = message  # lazy until a door reads `message`
        self.retry_after = retry_after
        self.extra = extra
        self._status = status

    @property
    def message(self) -> str:
        """The sentence in the active language."""
        return str(self.sentence)

    @property
    def status(self) -> int:
        return self._status if self._status is not None else http_status(self.code)

    def retry_after_header(self) -> str | None:
        """`Retry-After` in whole seconds (at least 1), or None."""
        if self.retry_after is None:
            return None
        return str(max(1, math.ceil(self.retry_after)))

    def fields(self) -> dict[str, object]:
        """The fields an error body carries besides code and message."""
        retry = {} if self.retry_after is None else {"retry_after": self.retry_after}
        return {**retry, **self.extra}
