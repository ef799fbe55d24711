"""Reading `Authorization: Bearer`, OpenAI's error body, and the middleware's answer to
a malformed token (found without the database: it is not in the form of a token)."""

from __future__ import annotations

import json

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from chat.accounts.api_tokens import RAW_FORMAT
from chat.accounts.bearer import bearer_value
from chat.edge.middleware import BearerTokenMiddleware
from chat.transports.openai.errors import openai_error


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (None, None),
        ("", None),
        ("Basic dXNlcjpwdw==", None),
        ("Token chat_abc", None),
        ("Bearer chat_abc", "chat_abc"),
        ("bearer chat_abc", "chat_abc"),
        ("  Bearer   chat_abc  ", "chat_abc"),
        ("Bearer", ""),
        ("Bearer ", ""),
        ("Bearer two words", ""),
    ],
)
def test_bearer_value(header: str | None, value: str | None) -> None:
    assert bearer_value(header) == value


def test_openai_error_has_openai_shape() -> None:
    response = openai_error(404, "No such model.", code="model_not_found", param="model")
    assert response.status_code == 404
    assert json.loads(response.content) == {
        "error": {
            "message": "No such model.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


def reached(request) -> HttpResponse:
    raise AssertionError("a malformed token must be refused before the view")


@pytest.mark.parametrize("header", ["Bearer", "Bearer not-a-token", "Bearer chat_short"])
def test_a_malformed_token_is_401_in_our_shape(header: str) -> None:
    request = RequestFactory().get("/api/conversations/", HTTP_AUTHORIZATION=header)
    response = BearerTokenMiddleware(reached)(request)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert json.loads(response.content)["error"]["code"] == "not_authenticated"


def test_a_malformed_token_under_v1_is_401_in_openai_shape() -> None:
    request = RequestFactory().post("/v1/chat/completions", HTTP_AUTHORIZATION="Bearer sk-x")
    response = BearerTokenMiddleware(reached)(request)
    assert response.status_code == 401
    error = json.loads(response.content)["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
    assert error["param"] is None and error["message"]


def test_requests_without_a_bearer_header_pass_untouched() -> None:
    seen = []
    middleware = BearerTokenMiddleware(lambda request: seen.append(request) or HttpResponse())
    for header in (None, "Basic dXNlcjpwdw=="):
        extra = {"HTTP_AUTHORIZATION": header} if header else {}
        request = RequestFactory().post("/api/conversations/", **extra)
        assert middleware(request).status_code == 200
        assert not hasattr(request, "api_token")
        assert not getattr(request, "_dont_enforce_csrf_checks", False)
    assert len(seen) == 2


def test_the_raw_token_form() -> None:
    import secrets

    assert RAW_FORMAT.fullmatch("chat_" + secrets.token_urlsafe(32))
    assert not RAW_FORMAT.fullmatch("chat_" + secrets.token_urlsafe(32) + "x")
