"""The tests' wait_for helper: a condition with a deadline, never a fixed sleep."""

import pytest

from tests.support.waiting import wait_for

pytestmark = pytest.mark.asyncio


async def test_returns_the_first_true_value_of_the_condition():
    calls = []

    def condition():
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    assert await wait_for(condition, timeout=5) == 3


async def test_awaits_a_coroutine_condition():
    async def ready():
        return "yes"

    assert await wait_for(ready, timeout=5) == "yes"


async def test_fails_with_what_it_waited_for_after_the_deadline():
    with pytest.raises(AssertionError, match=r"timed out after 0.05 s waiting for the answer"):
        await wait_for(lambda: False, timeout=0.05, what="the answer")
