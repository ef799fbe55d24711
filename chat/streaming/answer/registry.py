"""The running answers of this process: start one, stop one, count, interrupt, wait.

Each answer runs as its own asyncio task (generation.py), not inside a consumer. The
registry keeps those tasks referenced (asyncio holds only weak references), lets a
`stop` reach an answer of this process at once, and lets tests and shutdown wait.
"""

from __future__ import annotations

import asyncio
from typing import Unpack
from uuid import UUID

from channels.layers import BaseChannelLayer

from chat import contract
from chat.streaming.answer.generation import AnswerOptions, Generation
from chat.telemetry import metrics

# Running answers of this process by message id.
_running: dict[str, asyncio.Task[None]] = {}
# The same answers' Generation objects, so a stop in this process reaches them at once.
_generations: dict[str, Generation] = {}


def start_generation(
    *, conversation_id: UUID | str, message_id: UUID | str, **options: Unpack[AnswerOptions]
) -> None:
    """Start an answer in the background; it outlives the connection that asked.
    `options`: the rest of `Generation`'s arguments."""
    generation = Generation(str(conversation_id), str(message_id), options)
    task = asyncio.get_running_loop().create_task(generation.run(), name=f"answer-{message_id}")
    _running[generation.message_id] = task
    _generations[generation.message_id] = generation
    metrics.ANSWERS_RUNNING.inc()

    def forget(_: asyncio.Task[None]) -> None:
        metrics.ANSWERS_RUNNING.dec()
        _running.pop(generation.message_id, None)
        _generations.pop(generation.message_id, None)

    task.add_done_callback(forget)


def stop_here(conversation_id: UUID | str) -> bool:
    """Stop the conversation's answer if it runs in this process, whatever it is doing
    (even before it has joined its control group); True if there was one."""
    found = [g for g in _generations.values() if g.conversation_id == str(conversation_id)]
    for generation in found:
        generation.stop()
    return bool(found)


async def request_stop(layer: BaseChannelLayer, conversation_id: UUID | str) -> None:
    """What a `stop` frame does: the conversation's running answer ends `stopped`.

    An answer runs in the process that received its message, so a stop from the tab
    that sent it is always found here, with no trip through Redis and no race with the
    answer joining its control group. Otherwise it goes to the control group, for an
    answer in another process. Raises if that send fails (the channel layer is down)."""
    if stop_here(conversation_id):
        return
    await contract.request_stop(layer, conversation_id)


def running_count() -> int:
    return len(_running)


def interrupt_all() -> int:
    """End every running answer of this process now as `error` interrupted, its text
    so far saved (shutdown, after its grace period); returns how many."""
    tasks = list(_running.values())
    for task in tasks:
        task.cancel()
    return len(tasks)


async def wait_for_answers(timeout: float = 30.0) -> None:
    """Wait until this process has no running answer (tests, graceful shutdown)."""
    async with asyncio.timeout(timeout):
        while _running:
            await asyncio.gather(*list(_running.values()), return_exceptions=True)
