"""Control-queue listening (runtime.md 7.2, 7.3): the fetch loop of orchestration and entity work items.

A :class:`ControlQueueListener` runs while this worker owns its queue: it dequeues batches of up to
``controlQueueBatchSize`` messages, backs off while the queue is empty, pauses while too many messages
wait in memory (``controlQueueBufferThreshold``), and hands each instance's messages to the pipeline's
intake (``worker.pipeline.sessions.Sessions``). A message that cannot be decoded goes to the poison
queue (``set_aside``).

Messages are taken with a short visibility (``held_visibility``: 20 s with the default leases) and kept
hidden by renewals while they wait in memory or are processed (``HubQueues.hold``); so a dead worker's
messages come back about when its leases expire.
"""

from __future__ import annotations

import asyncio
import logging

from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.queues import Inbound, LocalConsumer, held_visibility
from worker.backends.base import Intake
from worker.pipeline.polling import Backoff, local_dispatch_enabled

__all__ = ["ControlQueueListener", "set_aside"]

log = logging.getLogger(__name__)


async def set_aside(hub: TaskHub, m: Inbound) -> None:
    """A message that cannot be decoded will never be: it goes to the poison queue, with why."""
    try:
        await hub.poison.move(m, f"cannot be decoded: {m.error}")
    except Exception as err:
        action = "an undecodable message stays where it is: moved to the poison queue when it comes back"
        if not hub.storage.conditions.report(err, action):
            log.exception("message.poison_failed queue=%s id=%s", m.queue, m.raw.id)
        await hub.queues.give_back(m)


class ControlQueueListener:
    """Dequeues one control queue while this worker owns it."""

    def __init__(
        self, hub: TaskHub, queue: str, intake: Intake, *, worker_id: str, local: bool | None = None
    ) -> None:
        self.hub = hub
        self.queue = queue
        self.intake = intake
        self.worker_id = worker_id
        s = hub.settings.storage
        self.batch_size = s.control_queue_batch_size
        self.visibility = held_visibility(
            s.control_queue_visibility_timeout, s.lease_interval, s.lease_renew_interval
        )
        self.buffer_threshold = s.control_queue_buffer_threshold
        self.backoff = Backoff(s.max_queue_polling_interval)
        self._stop = asyncio.Event()
        self._unsubscribe = hub.queues.wakeups.on_enqueue(queue, self.backoff.wake)
        self._unlocal = (  # local dispatch: messages this process sends to this queue skip the receive
            hub.queues.local.subscribe(
                queue,
                LocalConsumer(int(self.visibility.total_seconds()), self._reserve, self._take, lambda: None),
            )
            if (local_dispatch_enabled() if local is None else local)
            else (lambda: None)
        )
        self._task: asyncio.Task[None] | None = None
        self._partial = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"listen:{self.queue}")

    def wake(self) -> None:
        self.backoff.wake()

    def _reserve(self, _data: object) -> bool:
        return not self._stop.is_set() and self.intake.buffered < self.buffer_threshold

    def _take(self, m: Inbound) -> None:
        """A message this process sent to this queue, held: it joins its instance's next batch."""
        self.intake.submit(self.queue, m.instance.instance_id or "", [m])

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
            if self.intake.buffered >= self.buffer_threshold:
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
                        await set_aside(self.hub, m)
                    finally:
                        self.hub.queues.held.let_go([m])
                    continue
                by_instance.setdefault(m.instance.instance_id or "", []).append(m)
            for instance_id, msgs in by_instance.items():
                self.intake.submit(self.queue, instance_id, msgs)
            if self._partial:
                self._partial = False
                await self.backoff.after_partial(self._stop)
        log.info("listen.stop queue=%s worker_id=%s", self.queue, self.worker_id)
