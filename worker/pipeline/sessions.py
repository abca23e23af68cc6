"""Per-instance sessions (runtime.md 7.2, 7.3): the intake of the orchestration pipeline.

A backend's listener (``worker.backends.base.Listener``) fetches a control queue's batches while this
worker owns it and hands each instance's messages to :meth:`Sessions.submit`. :class:`Sessions` keeps at most one active session per instance: messages for an instance that is being
processed wait and form its next batch. At most ``maxConcurrentOrchestratorFunctions`` sessions run at
once. When a queue is lost, the batches of that queue that have not started are dropped (made visible
again at once for the new owner).

The backend keeps the messages hidden while they wait in memory or are processed; a batch whose
processing fails goes back at once (abandoned with backoff, runtime.md 7.5).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from worker.backends.base import OrchestrationWorkItems, WorkMessage

__all__ = ["Sessions"]

log = logging.getLogger(__name__)

Process = Callable[[str, Sequence[WorkMessage]], Awaitable[None]]


@dataclass
class _Pending:
    queue: str
    messages: dict[str, WorkMessage] = field(default_factory=dict)  # by message id: a redelivery replaces


class Sessions:
    """One active session per instance; later messages for it wait for its next batch."""

    def __init__(
        self, process: Process, *, max_concurrent: int, items: OrchestrationWorkItems | None = None
    ) -> None:
        self._process = process
        self._items = items
        self._sem = asyncio.Semaphore(max_concurrent)
        self._pending: dict[str, _Pending] = {}
        self._active: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def buffered(self) -> int:
        """Messages in memory, waiting or being processed."""
        return sum(len(p.messages) for p in self._pending.values())

    def active_for(self, queue: str) -> int:
        return sum(1 for p in self._pending.values() if p.queue == queue)

    def submit(self, queue: str, instance_id: str, messages: Sequence[WorkMessage]) -> None:
        pending = self._pending.setdefault(instance_id, _Pending(queue))
        for m in messages:
            pending.messages[m.message_id] = m
        if instance_id not in self._active:
            self._idle.clear()
            self._active[instance_id] = asyncio.create_task(
                self._session(instance_id), name=f"session:{instance_id}"
            )

    async def _session(self, instance_id: str) -> None:
        try:
            while True:
                pending = self._pending.get(instance_id)
                if pending is None or not pending.messages:
                    break
                async with self._sem:
                    pending = self._pending.get(instance_id)
                    if pending is None or not pending.messages:
                        break
                    batch = list(pending.messages.values())
                    pending.messages.clear()
                    await self._run(instance_id, batch)
        finally:
            self._active.pop(instance_id, None)
            p = self._pending.get(instance_id)
            if p is not None and not p.messages:
                self._pending.pop(instance_id, None)
            elif p is not None and p.messages:  # arrived while finishing: go again
                self._active[instance_id] = asyncio.create_task(self._session(instance_id))
            if not self._active:
                self._idle.set()

    async def _run(self, instance_id: str, batch: list[WorkMessage]) -> None:
        """Process one batch; whatever it did not delete or give back is no longer renewed."""
        try:
            await self._process(instance_id, batch)
        except Exception:
            log.exception("session.process_failed instance_id=%s", instance_id)
            if self._items is not None:
                await self._items.give_back(batch)
        finally:
            if self._items is not None:
                self._items.release(batch)

    def drop_queue(self, queue: str) -> list[WorkMessage]:
        """Forget the waiting (not started) messages of a lost queue; returns them."""
        dropped: list[WorkMessage] = []
        for _instance_id, p in list(self._pending.items()):
            if p.queue == queue:
                dropped.extend(p.messages.values())
                p.messages.clear()
        return dropped

    async def drain(self, timeout: float) -> bool:
        """Wait until no session runs; False if ``timeout`` passed first."""
        if self._idle.is_set():
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def cancel(self) -> None:
        """Cancel the sessions still running (a stop past its deadline); their messages reappear after
        their visibility, and a checkpoint cut short is repaired like after a crash."""
        tasks = list(self._active.values())
        for task in tasks:
            task.cancel()
        self._pending.clear()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_queue_idle(self, queue: str, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.active_for(queue):
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True
