"""Randomized exponential polling backoff with wake-ups (runtime.md 7.2).

The first empty poll waits nothing; later ones wait about 50, 100, 150, 250, 450, 850 ms ... up to the
configured maximum (``maxQueuePollingInterval``). A non-empty poll, or a message this process sent to
the queue (:meth:`Backoff.wake`), snaps it back to the minimum at once.
"""

from __future__ import annotations

import asyncio
import os
import random
from datetime import timedelta

__all__ = ["Backoff", "LOCAL_DISPATCH_ENV", "local_dispatch_enabled"]

MIN_INTERVAL = 0.05

LOCAL_DISPATCH_ENV = "TASKHUB_LOCAL_DISPATCH"
"""``0`` turns local dispatch off (README "Performance"): then every work item and every activity result
goes through a queue receive, as in DTFx."""


def local_dispatch_enabled() -> bool:
    """Local dispatch (on unless ``TASKHUB_LOCAL_DISPATCH=0``): an activity scheduled by this process runs
    here when there is room, and its result goes straight to this process's session; both messages are
    still written, hidden and held, so a crash loses nothing (``HubQueues.send(local=True)``)."""
    return os.environ.get(LOCAL_DISPATCH_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


class Backoff:
    def __init__(
        self, maximum: timedelta, *, minimum: float = MIN_INTERVAL, rng: random.Random | None = None
    ) -> None:
        self.maximum = max(maximum.total_seconds(), minimum)
        self.minimum = minimum
        self._rng = rng or random.Random()
        self._exponent = 0
        self._interval = 0.0
        self._wake = asyncio.Event()

    @property
    def interval(self) -> float:
        return self._interval

    def reset(self) -> None:
        """A poll found work: poll again at once."""
        self._exponent = 0
        self._interval = 0.0

    def wake(self) -> None:
        """Something was sent to the queue: end the current wait and start over from the minimum."""
        self.reset()
        self._wake.set()

    def next_interval(self) -> float:
        """How long to wait after this empty poll, and advance the curve."""
        wait = self._interval
        if self._exponent == 0:
            self._interval = self.minimum
        else:
            factor = self._rng.uniform(0.8, 1.2) * (2 ** (self._exponent - 1))
            self._interval = min(self.minimum + factor * self.minimum, self.maximum)
        self._exponent += 1
        return wait

    async def after_partial(self, stop: asyncio.Event | None = None) -> None:
        """After a poll that found fewer messages than it asked for: the queue is (nearly) drained, so
        pause the minimum interval rather than polling an empty queue at once. A :meth:`wake` (this
        process sent to the queue) ends the pause immediately."""
        self.reset()
        await self._sleep(self.minimum, stop)

    async def wait(self, stop: asyncio.Event | None = None) -> None:
        """Sleep after an empty poll; returns early on :meth:`wake` or when ``stop`` is set."""
        delay = self.next_interval()
        if delay <= 0:
            await asyncio.sleep(0)
            return
        await self._sleep(delay, stop)

    async def _sleep(self, delay: float, stop: asyncio.Event | None) -> None:
        if self._wake.is_set():
            self._wake.clear()
            return
        waiters = [asyncio.ensure_future(self._wake.wait())]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            self._wake.clear()
