"""The shared readiness check (chat/ops/health.py SharedCheck): one run for callers at
once, its result reused for `ttl` seconds, a caller that gives up cancels nothing."""

from __future__ import annotations

import asyncio

import pytest

from chat.ops.health import SharedCheck


class Gate:
    """A check that counts its runs and ends when the test opens it."""

    def __init__(self) -> None:
        self.runs = 0
        self.opened = asyncio.Event()
        self.reason = "database: down"

    async def __call__(self) -> str:
        self.runs += 1
        await self.opened.wait()
        return self.reason


@pytest.mark.asyncio
async def test_callers_at_once_share_one_run() -> None:
    gate = Gate()
    shared = SharedCheck(gate)
    callers = [asyncio.ensure_future(shared.result(60)) for _ in range(20)]
    await asyncio.sleep(0)
    gate.opened.set()
    assert await asyncio.gather(*callers) == ["database: down"] * 20
    assert gate.runs == 1


@pytest.mark.asyncio
async def test_the_result_is_reused_for_ttl_then_checked_again() -> None:
    gate = Gate()
    gate.opened.set()
    shared = SharedCheck(gate)
    assert await shared.result(60) == "database: down"
    gate.reason = ""
    assert await shared.result(60) == "database: down"  # within the ttl
    assert gate.runs == 1
    assert await shared.result(0) == ""  # older than a ttl of 0
    assert gate.runs == 2


@pytest.mark.asyncio
async def test_a_caller_that_gives_up_leaves_the_run_to_the_others() -> None:
    gate = Gate()
    shared = SharedCheck(gate)
    impatient = asyncio.ensure_future(shared.result(60))
    patient = asyncio.ensure_future(shared.result(60))
    await asyncio.sleep(0)
    impatient.cancel()
    gate.opened.set()
    assert await patient == "database: down"
    assert impatient.cancelled() and gate.runs == 1
