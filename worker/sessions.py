"""Control-queue listening and per-instance sessions (runtime.md 7.2, 7.3).

A :class:`ControlQueueListener` runs while this worker owns its queue: it dequeues batches of up to
``controlQueueBatchSize`` messages, backs off while the queue is empty, pauses while too many messages
wait in memory (``controlQueueBufferThreshold``), and hands the messages to the :class:`Sessions`.

:class:`Sessions` keeps at most one active session per instance: messages for an instance that is being
processed wait and form its next batch. At most ``maxConcurrentOrchestratorFunctions`` sessions run at
once. When a queue is lost, the batches of that queue that have not started are dropped (made visible
again at once for the new owner).

Messages are taken with a short visibility (``held_visibility``: 20 s with the default leases) and kept
hidden by renewals while they wait in memory or are processed (``HubQueues.hold``); so a dead worker's
messages come back about when its leases expire. A batch whose processing fails goes back at once
(abandoned with backoff, runtime.md 7.5).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.queues import HubQueues, Inbound, LocalConsumer, held_visibility
from worker.polling import Backoff, local_dispatch_enabled

__all__ = ["Sessions", "ControlQueueListener"]

log = logging.getLogger(__name__)

Process = Callable[[str, Sequence[Inbound]], Awaitable[None]]
BadMessage = Callable[[Inbound], Awaitable[None]]


@dataclass
class _Pending:
    queue: str
    messages: dict[str, Inbound] = field(default_factory=dict)  # by message id: a redelivery replaces


class Sessions:
    """One active session per instance; later messages for it wait for its next batch."""

    def __init__(self, process: Process, *, max_concurrent: int, queues: HubQueues | None = None) -> None:
        self._process = process
        self._queues = queues
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

    def submit(self, queue: str, instance_id: str, messages: Sequence[Inbound]) -> None:
        pending = self._pending.setdefault(instance_id, _Pending(queue))
        for m in messages:
            pending.messages[m.raw.id] = m
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

    async def _run(self, instance_id: str, batch: list[Inbound]) -> None:
        """Process one batch; whatever it did not delete or give back is no longer renewed."""
        try:
            await self._process(instance_id, batch)
        except Exception:
            log.exception("session.process_failed instance_id=%s", instance_id)
            if self._queues is not None:
                await asyncio.gather(*(self._queues.give_back(m) for m in batch))
        finally:
            if self._queues is not None:
                self._queues.let_go(batch)

    def drop_queue(self, queue: str) -> list[Inbound]:
        """Forget the waiting (not started) messages of a lost queue; returns them."""
        dropped: list[Inbound] = []
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


class ControlQueueListener:
    """Dequeues one control queue while this worker owns it."""

    def __init__(
        self,
        hub: TaskHub,
        queue: str,
        sessions: Sessions,
        *,
        worker_id: str,
        on_bad_message: BadMessage,
    ) -> None:
        self.hub = hub
        self.queue = queue
        self.sessions = sessions
        self.worker_id = worker_id
        self.on_bad_message = on_bad_message
        s = hub.settings.storage
        self.batch_size = s.control_queue_batch_size
        self.visibility = held_visibility(
            s.control_queue_visibility_timeout, s.lease_interval, s.lease_renew_interval
        )
        self.buffer_threshold = s.control_queue_buffer_threshold
        self.backoff = Backoff(s.max_queue_polling_interval)
        self._stop = asyncio.Event()
        self._unsubscribe = hub.queues.on_enqueue(queue, self.backoff.wake)
        self._unlocal = (  # local dispatch: messages this process sends to this queue skip the receive
            hub.queues.on_local(
                queue,
                LocalConsumer(int(self.visibility.total_seconds()), self._reserve, self._take, lambda: None),
            )
            if local_dispatch_enabled()
            else (lambda: None)
        )
        self._task: asyncio.Task[None] | None = None
        self._partial = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"listen:{self.queue}")

    def _reserve(self, _data: object) -> bool:
        return not self._stop.is_set() and self.sessions.buffered < self.buffer_threshold

    def _take(self, m: Inbound) -> None:
        """A message this process sent to this queue, held: it joins its instance's next batch."""
        self.sessions.submit(self.queue, m.instance.instance_id or "", [m])

    async def stop(self) -> None:
        """Stop dequeuing (what is in memory is still processed by the sessions)."""
        self._unlocal()
        self._stop.set()
        self.backoff.wake()
        self._unsubscribe()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        log.info("listen.start queue=%s worker_id=%s", self.queue, self.worker_id)
        while not self._stop.is_set():
            if self.sessions.buffered >= self.buffer_threshold:
                await asyncio.sleep(0.2)
                continue
            try:
                batch = await self.hub.queues.receive(
                    self.queue, max_messages=self.batch_size, visibility_timeout=self.visibility, hold=True
                )
            except Exception as err:
                action = f"control queue {self.queue}: receives again in up to {self.backoff.maximum:g} s"
                if not self.hub.storage.conditions.report(err, action):
                    log.exception("listen.receive_failed queue=%s worker_id=%s", self.queue, self.worker_id)
                await self.backoff.wait(self._stop)
                continue
            if not batch:
                await self.backoff.wait(self._stop)
                continue
            if len(batch) < self.batch_size:
                self._partial = True
            else:
                self.backoff.reset()
            if self._stop.is_set():  # lost the queue while receiving: give the batch back
                await asyncio.gather(*(self.hub.queues.give_back(m, delay=0) for m in batch))
                break
            by_instance: dict[str, list[Inbound]] = {}
            for m in batch:
                if m.data is None:
                    try:
                        await self.on_bad_message(m)
                    finally:
                        self.hub.queues.let_go([m])
                    continue
                by_instance.setdefault(m.instance.instance_id or "", []).append(m)
            for instance_id, msgs in by_instance.items():
                self.sessions.submit(self.queue, instance_id, msgs)
            if self._partial:
                self._partial = False
                await self.backoff.after_partial(self._stop)
        log.info("listen.stop queue=%s worker_id=%s", self.queue, self.worker_id)
