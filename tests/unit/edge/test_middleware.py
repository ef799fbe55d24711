"""The 503 a view gives while the database is down (the e2e outage test shows it
over a real outage; here, each kind of request and error)."""

import json

from django.db import IntegrityError, OperationalError
from django.http import HttpResponse
from django.test import RequestFactory

from chat.edge.middleware import DatabaseUnavailableMiddleware


def middleware() -> DatabaseUnavailableMiddleware:
    return DatabaseUnavailableMiddleware(lambda request: HttpResponse())


def test_an_api_request_gets_a_json_503_with_retry_after() -> None:
    request = RequestFactory().get("/api/conversations/")
    response = middleware().process_exception(request, OperationalError("pool timeout"))
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert json.loads(response.content)["error"]["code"] == "unavailable"


def test_a_v1_request_gets_openais_error_object_with_retry_after() -> None:
    request = RequestFactory().post("/v1/chat/completions")
    response = middleware().process_exception(request, OperationalError("secret detail"))
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response["Content-Type"] == "application/json"
    error = json.loads(response.content)["error"]
    assert (error["type"], error["code"], error["param"]) == ("server_error", "unavailable", None)
    assert "secret detail" not in error["message"]


def test_a_page_gets_a_plain_503_without_the_error_text() -> None:
    request = RequestFactory().get("/")
    response = middleware().process_exception(request, OperationalError("secret detail"))
    assert response.status_code == 503 and response["Content-Type"].startswith("text/plain")
    assert b"secret detail" not in response.content


def test_other_errors_are_left_to_django() -> None:
    request = RequestFactory().get("/api/conversations/")
    assert middleware().process_exception(request, IntegrityError("dup")) is None
    assert middleware().process_exception(request, ValueError("bug")) is None
