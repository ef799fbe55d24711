"""Graceful shutdown: on SIGTERM a process stops taking answers, lets the running
ones finish for CHAT_SHUTDOWN_GRACE_SECONDS, saves the rest as interrupted, and exits.

Daphne runs on Twisted, whose own SIGTERM handler stops the reactor at once: Daphne
then cancels every consumer and the answers die with the loop, left `streaming`
until another process sweeps them. `install_under_daphne` (called by chatsite.asgi)
puts this module's handler in front of Twisted's once the reactor runs: it drains
first, then hands the signal to Twisted, which closes the sockets (the tabs reconnect
to another process) and exits. A second SIGTERM while draining ends the grace period.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Protocol, TypeAlias, cast

from django.conf import settings

from chat.streaming.answer import draining, registry

logger = logging.getLogger(__name__)

FINISH_SECONDS = 15.0  # for interrupted answers' final saves after the grace period
FLUSH_SECONDS = 1.0  # for the last frames to reach the sockets before they close

_drain_task: asyncio.Task[None] | None = None
_cut_short: asyncio.Event | None = None

# What `signal.getsignal` returns: a handler, SIG_DFL or SIG_IGN, or None.
SignalHandler: TypeAlias = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


class Reactor(Protocol):
    """What this module calls of Twisted's reactor."""

    def callWhenRunning(self, callable: Callable[..., object], *args: object) -> object: ...

    def callLater(self, delay: float, callable: Callable[..., object], *args: object) -> object: ...

    def stop(self) -> None: ...


async def drain(grace: float) -> int:
    """Refuse new answers, wait up to `grace` seconds for the running ones, then end
    the rest as `error` interrupted (their text saved); returns how many were cut."""
    global _cut_short
    draining.begin()
    _cut_short = asyncio.Event()
    running = registry.running_count()
    logger.info("shutting down: waiting up to %.0f s for %d running answers", grace, running)
    waiting = asyncio.ensure_future(registry.wait_for_answers(grace))
    cut_short = asyncio.ensure_future(_cut_short.wait())
    await asyncio.wait([waiting, cut_short], return_when=asyncio.FIRST_COMPLETED)
    cut_short.cancel()
    if waiting.done() and not waiting.cancelled() and waiting.exception() is None:
        interrupted = 0
    else:
        waiting.cancel()
        interrupted = registry.interrupt_all()
        logger.warning("shutting down: %d answers interrupted after the grace period", interrupted)
        try:
            await registry.wait_for_answers(FINISH_SECONDS)
        except TimeoutError:
            logger.error("shutting down: interrupted answers did not finish saving")
    # The answers' last events are on their way to this process's sockets (through
    # the channel layer): give them a moment before Twisted closes the sockets.
    await asyncio.sleep(FLUSH_SECONDS)
    logger.info("shutting down: no answer running")
    return interrupted


def install_under_daphne() -> None:
    """Drain on SIGTERM when this process is a Daphne server; nothing otherwise."""
    # Twisted puts the reactor itself in sys.modules under the module's name.
    reactor = cast("Reactor | None", sys.modules.get("twisted.internet.reactor"))
    if reactor is None or "daphne.server" not in sys.modules:
        return
    # Twisted installs its own handlers as the reactor starts; this runs after that,
    # on the event loop (callLater), so it replaces Twisted's SIGTERM handler.
    reactor.callWhenRunning(lambda: reactor.callLater(0, _install, reactor))


def _install(reactor: Reactor) -> None:
    loop = asyncio.get_running_loop()
    twisted_handler = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(_on_sigterm, twisted_handler, reactor, signum)

    signal.signal(signal.SIGTERM, on_sigterm)


def _on_sigterm(twisted_handler: SignalHandler, reactor: Reactor, signum: int) -> None:
    global _drain_task
    if _drain_task is not None:  # a second SIGTERM: no more grace
        if _cut_short is not None:
            _cut_short.set()
        return
    _drain_task = asyncio.get_running_loop().create_task(
        _drain_then_stop(twisted_handler, reactor, signum), name="shutdown"
    )


async def _drain_then_stop(twisted_handler: SignalHandler, reactor: Reactor, signum: int) -> None:
    try:
        await drain(settings.CHAT_SHUTDOWN_GRACE_SECONDS)
    finally:
        if callable(twisted_handler):
            twisted_handler(signum, None)
        else:
            reactor.stop()
