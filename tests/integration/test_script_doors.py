"""What a script meets at the JSON API's and /v1's doors without the right
credentials: JSON in the door's own shape, never Django's HTML CSRF or 404 page."""

from __future__ import annotations

import pytest
from django.test import Client

from chat.models import Conversation

pytestmark = pytest.mark.django_db


def error_of(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/conversations/",
        "/api/presets/",
        "/api/conversations/00000000-0000-0000-0000-000000000000/messages/",
    ],
)
def test_an_api_post_without_a_token_or_a_session_is_a_json_401(path) -> None:
    """Today: Django's HTML 'CSRF verification failed' page, 403."""
    response = Client(enforce_csrf_checks=True).post(path, "{}", content_type="application/json")
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_a_session_post_without_the_csrf_token_is_a_json_403_with_a_code(alice) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/conversations/", "{}", content_type="application/json")
    assert response.status_code == 403
    assert error_of(response)["code"] == "csrf_failed"
    assert not Conversation.objects.exists()


def test_a_v1_post_without_a_key_is_openais_401(alice) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)  # a session does not count under /v1
    response = client.post("/v1/chat/completions", "{}", content_type="application/json")
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"
    assert error_of(response)["type"] == "invalid_request_error"


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_path_is_a_404_in_the_doors_shape(method) -> None:
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)("/v1/chat/completions/")  # a stray slash
    assert response.status_code == 404
    error = error_of(response)
    assert error["type"] == "invalid_request_error" and "Invalid URL" in error["message"]
    response = getattr(client, method)("/api/nothing/")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert client.get("/no/such/page/")["Content-Type"].startswith("text/html")


def test_a_page_post_without_csrf_keeps_djangos_page() -> None:
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
