"""The error body of the OpenAI API, for everything under /v1/: clients written for
OpenAI (its SDKs read `error.message`, `type` and `code`) understand our refusals."""

from __future__ import annotations

from django.http import JsonResponse


def openai_error(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",  # OpenAI's field name
    code: str | None = None,
    param: str | None = None,
) -> JsonResponse:
    """`{"error": {"message", "type", "param", "code"}}` with the HTTP status."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JsonResponse(body, status=status)
