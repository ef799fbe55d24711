"""One clock judges whether an answer's process is alive: the database's. Here one
test process plays two servers whose clocks disagree (`timezone.now` shifted by
26 s): the writer runs an answer and writes its heartbeat, the judge sweeps, counts
the user's answers and starts new ones. A live answer is neither swept nor left out
of the per-user cap, whichever clock is off. (tests/e2e/test_clocks.py: the same
with two real servers.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import timezone

from chat import db
from chat.conversations import liveness, quotas, services
from chat.models import Conversation, Message
from chat.streaming.answer.exchanges import ExchangeRequest, start_alone

pytestmark = pytest.mark.django_db(transaction=True)

SKEW = 26.0
HEARTBEAT_AGE = timedelta(seconds=5)  # silent that long: alive (a model thinking)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], Iterator[None]]:
    """`with clock(seconds):` this process's `timezone.now` runs that far off."""
    real: Callable[[], datetime] = timezone.now

    @contextmanager
    def shifted(seconds: float) -> Iterator[None]:
        monkeypatch.setattr(timezone, "now", lambda: real() + timedelta(seconds=seconds))
        try:
            yield
        finally:
            monkeypatch.setattr(timezone, "now", real)

    return shifted


@pytest.mark.parametrize(
    ("writer", "judge"),
    [(0.0, SKEW), (-SKEW, 0.0), (SKEW, 0.0), (0.0, -SKEW)],
    ids=["judge-ahead", "writer-behind", "writer-ahead", "judge-behind"],
)
def test_a_live_answer_stays_live_and_counted_whatever_the_clocks(
    settings, clock, writer: float, judge: float
) -> None:
    settings.CHAT_MAX_ACTIVE_ANSWERS_PER_USER = 1
    owner = get_user_model().objects.create_user("skewed")
    running, other = (Conversation.objects.create(owner=owner) for _ in range(2))
    with clock(writer):  # the writer starts the answer and saves it (its heartbeat)
        answer = start_alone(ExchangeRequest(owner, running.pk, "Think hard", None))
        answer_id = answer.assistant_message.pk
        services.messages_save_progress(appends={str(answer_id): (0, "Let me th")})
    # The model then thinks for a while: no save since.
    Message.objects.filter(pk=answer_id).update(updated=F("updated") - HEARTBEAT_AGE)
    with clock(judge):
        assert services.messages_sweep_stale_all() == 0
        assert isinstance(quotas.precheck(user_id=owner.pk), quotas.RateLimited)
        with pytest.raises(quotas.RateLimited):  # the cap holds: one answer at once
            start_alone(ExchangeRequest(owner, other.pk, "Another", None))
        with pytest.raises(quotas.ConversationBusy):  # and the conversation is busy
            start_alone(ExchangeRequest(owner, running.pk, "Again", None))
    assert Message.objects.get(pk=answer_id).status == Message.Status.STREAMING


def test_a_silent_answer_is_stale_by_the_databases_clock_whatever_the_judges(
    settings, clock
) -> None:
    """The other side: an answer silent for longer than the window is swept by a
    judge whose clock is 26 s behind (its process is dead whatever that clock says)."""
    owner = get_user_model().objects.create_user("dead")
    conversation = Conversation.objects.create(owner=owner)
    answer = start_alone(ExchangeRequest(owner, conversation.pk, "Hello", None))
    silent = liveness.stale_after() + timedelta(seconds=1)
    Message.objects.filter(pk=answer.assistant_message.pk).update(updated=F("updated") - silent)
    with clock(-SKEW):
        assert quotas.precheck(user_id=owner.pk) is None  # a dead answer is not counted
        assert services.messages_sweep_stale_all() == 1
    saved = Message.objects.get(pk=answer.assistant_message.pk)
    assert (saved.status, saved.error_code) == ("error", "interrupted")


def test_the_sweep_measures_this_process_clock_against_the_databases(clock) -> None:
    with clock(SKEW):
        assert liveness.clock_skew_measure() == pytest.approx(SKEW, abs=1)
    assert liveness.clock_skew_measure() == pytest.approx(0, abs=1)


@pytest.mark.parametrize("writer", [SKEW, -SKEW], ids=["ahead", "behind"])
def test_a_heartbeat_is_written_by_the_databases_clock(clock, writer: float) -> None:
    """Both saves, of a grown answer's text and of a quiet one's heartbeat alone, stamp
    it with the database's time, not the writing server's; the heartbeat leaves the
    text alone."""
    owner = get_user_model().objects.create_user("beating")
    grown, quiet = (
        start_alone(
            ExchangeRequest(owner, Conversation.objects.create(owner=owner).pk, "Hi", None)
        ).assistant_message.pk
        for _ in range(2)
    )
    Message.objects.filter(pk__in=[grown, quiet]).update(
        content="So far", updated=F("updated") - HEARTBEAT_AGE
    )
    with clock(writer):
        services.messages_save_progress(
            appends={str(grown): (0, "So far, more")}, alive=[str(quiet)]
        )
    now = db.database_now()
    saved = {m.pk: m for m in Message.objects.filter(pk__in=[grown, quiet])}
    assert saved[grown].content == "So far, more" and saved[quiet].content == "So far"
    for answer in saved.values():
        assert abs((answer.updated - now).total_seconds()) < 1, (answer.updated, now)
