"""The error body of the OpenAI API, for everything under /v1/: clients written for
OpenAI (its SDKs read `error.message`, `type` and `code`) understand our refusals.
`refusal_response` is the one place a Refusal becomes OpenAI's shape."""

from __future__ import annotations

from enum import StrEnum

from django.http import JsonResponse
from django.utils import translation

from chat.errors import ErrorCode, Refusal


class OpenAICode(StrEnum):
    """OpenAI's `error.code` values this gateway sends."""

    INVALID_API_KEY = "invalid_api_key"
    MODEL_NOT_FOUND = "model_not_found"
    RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
    INSUFFICIENT_QUOTA = "insufficient_quota"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"
    TOO_LONG = "too_long"
    NOT_ALLOWED = "not_allowed"


class OpenAIType(StrEnum):
    """OpenAI's `error.type` values this gateway sends."""

    INVALID_REQUEST = "invalid_request_error"
    REQUESTS = "requests"
    INSUFFICIENT_QUOTA = "insufficient_quota"
    SERVER_ERROR = "server_error"


# Our codes in OpenAI's terms: (type, code); the status is the refusal's own.
SHAPES: dict[ErrorCode, tuple[OpenAIType, OpenAICode | None]] = {
    ErrorCode.NOT_AUTHENTICATED: (OpenAIType.INVALID_REQUEST, OpenAICode.INVALID_API_KEY),
    ErrorCode.NOT_FOUND: (OpenAIType.INVALID_REQUEST, OpenAICode.MODEL_NOT_FOUND),
    ErrorCode.RATE_LIMITED: (OpenAIType.REQUESTS, OpenAICode.RATE_LIMIT_EXCEEDED),
    ErrorCode.QUOTA_EXCEEDED: (OpenAIType.INSUFFICIENT_QUOTA, OpenAICode.INSUFFICIENT_QUOTA),
    ErrorCode.STORAGE_FULL: (OpenAIType.INSUFFICIENT_QUOTA, OpenAICode.INSUFFICIENT_QUOTA),
    ErrorCode.BUSY: (OpenAIType.INVALID_REQUEST, OpenAICode.CONFLICT),
    ErrorCode.NOT_ALLOWED: (OpenAIType.INVALID_REQUEST, OpenAICode.NOT_ALLOWED),
    ErrorCode.UNAVAILABLE: (OpenAIType.SERVER_ERROR, OpenAICode.UNAVAILABLE),
    ErrorCode.SERVER_ERROR: (OpenAIType.SERVER_ERROR, None),
    ErrorCode.TOO_LONG: (OpenAIType.INVALID_REQUEST, OpenAICode.TOO_LONG),
    ErrorCode.BAD_REQUEST: (OpenAIType.INVALID_REQUEST, None),
    ErrorCode.BAD_FRAME: (OpenAIType.INVALID_REQUEST, None),
}


def openai_error(
    status: int,
    message: str,
    *,
    type: str = OpenAIType.INVALID_REQUEST,  # OpenAI's field name
    code: str | None = None,
    param: object = None,  # the request's field at fault: a name, or None
) -> JsonResponse:
    """`{"error": {"message", "type", "param", "code"}}` with the HTTP status."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JsonResponse(body, status=status)


def refusal_response(refusal: Refusal) -> JsonResponse:
    """A refusal in OpenAI's shape, with its status and Retry-After; its sentence in
    English whatever the request's Accept-Language (OpenAI's clients expect English)."""
    kind, code = SHAPES.get(refusal.code, (OpenAIType.INVALID_REQUEST, None))
    with translation.override("en"):
        message = refusal.message
    response = openai_error(
        refusal.status, message, type=kind, code=code, param=refusal.extra.get("param")
    )
    if (retry_after := refusal.retry_after_header()) is not None:
        response["Retry-After"] = retry_after
    return response
