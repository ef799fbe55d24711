"""The Slack bot in the admin: staff map a Slack user to a local account; threads and
events are read-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chat.models import SlackUser
from chat.slack import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    admin = get_user_model().objects.create_superuser("boss", password="x-pass-123")
    client = Client()
    client.force_login(admin)
    return client


def test_staff_map_a_slack_user_whose_answers_become_that_users(
    staff: Client, settings: Any
) -> None:
    settings.SLACK_SERVICE_USER = "slack-service"
    alice = get_user_model().objects.create_user("alice", password="x-pass-123")
    assert services.slack_owner(slack_user_id="U0ALICE").username == "slack-service"
    response = staff.post(
        "/admin/chat/slackuser/add/", {"slack_user_id": "U0ALICE", "user": alice.pk}
    )
    assert response.status_code == 302, response.content[:2000]
    assert SlackUser.objects.get().user == alice
    assert services.slack_owner(slack_user_id="U0ALICE") == alice
    assert services.slack_owner(slack_user_id="U0OTHER").username == "slack-service"
    assert not get_user_model().objects.get(username="slack-service").has_usable_password()


@pytest.mark.parametrize("page", ["slackthread", "slackevent"])
def test_threads_and_events_are_read_only(staff: Client, page: str) -> None:
    assert staff.get(f"/admin/chat/{page}/").status_code == 200
    assert staff.get(f"/admin/chat/{page}/add/").status_code == 403
