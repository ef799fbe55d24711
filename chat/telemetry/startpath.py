"""The server's own delay before the model is asked (issue #26), by phase.

A door starts the clock when a message arrives (`begin`); the steps of an answer's
start mark their phase as they end (`phase`), each observed as the time since the
previous mark into `chat_answer_start_seconds{door, phase}`; the model request,
handed to its HTTP connection, closes it (`phase("begin", final=True)`, then the
`total` since `begin`). The clock rides in a context variable, which the answer's
tasks inherit (asyncio copies the context into a task it creates), so the marks in
the answer's own tasks find it. A clock is observed once: a retried model request
(openai's retries) is not a second start. A start refused or resent asks no model,
so its clock is never closed: nothing but its first phases is observed, and the next
message's `begin` replaces it.

Phases, in order: `auth` (the door's session or token checked: again, on the
socket), `exchange` (admitted, the question and the answer saved, the context read),
and `begin` (announced, the answer's task started, its control group joined, the
model request built and handed to the HTTP connection: chat/provider/reach.py).
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field

from chat.telemetry.metrics import ANSWER_START


@dataclass
class StartClock:
    door: str
    started: float = field(default_factory=time.perf_counter)
    last: float = 0.0
    done: bool = False

    def __post_init__(self) -> None:
        self.last = self.started


_clock: ContextVar[StartClock | None] = ContextVar("chat_start_clock", default=None)


def begin(door: str) -> None:
    """A message arrived at `door` (websocket, sse, v1): the clock starts."""
    _clock.set(StartClock(door))


def phase(name: str, *, final: bool = False) -> None:
    """The phase `name` of this context's start ended (`final`: the start too). No
    clock (a start from elsewhere: a webhook, the Slack bot), or one already done:
    nothing."""
    clock = _clock.get()
    if clock is None or clock.done:
        return
    now = time.perf_counter()
    ANSWER_START.labels(door=clock.door, phase=name).observe(now - clock.last)
    clock.last = now
    if final:
        clock.done = True
        ANSWER_START.labels(door=clock.door, phase="total").observe(now - clock.started)


def model_request() -> None:
    """The model request is handed to its HTTP connection: the start is over."""
    phase("begin", final=True)
