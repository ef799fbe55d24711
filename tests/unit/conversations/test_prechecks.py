"""quotas.prechecks: the /v1 door's admission of a burst in three reads, each user
judged as `precheck` judges them alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.conversations import quotas, services
from chat.models import Message, UserQuota

pytestmark = pytest.mark.django_db

User = get_user_model()


def test_each_user_is_judged_as_alone_in_three_reads(settings: Any) -> None:
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 2
    settings.CHAT_MAX_ACTIVE_ANSWERS_PER_USER = 1
    fresh, fast, busy, calm = (User.objects.create_user(n) for n in ("a", "b", "c", "d"))
    sent = timezone.now().isoformat()
    UserQuota.objects.create(user=fast, recent_sends=[sent, sent])  # at the rate limit
    UserQuota.objects.create(user=calm, recent_sends=[sent])  # under it
    conversation = services.conversation_create(owner=busy)
    Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING
    )
    ids = [fresh.pk, fast.pk, busy.pk, calm.pk, fast.pk, 10**9]
    with CaptureQueriesContext(connection) as queries:
        together = quotas.prechecks(user_ids=ids)
    assert len(queries) == 3
    alone = [quotas.precheck(user_id=user_id) for user_id in ids]
    assert [type(r) for r in together] == [type(r) for r in alone]
    assert [r is None for r in together] == [True, False, False, True, False, True]
    assert [r.message for r in together if r] == [r.message for r in alone if r]
