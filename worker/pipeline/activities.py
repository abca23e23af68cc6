"""Activities: the work-item queue -> the user's function -> a result on the orchestration's control
queue (runtime.md 7.6, "Activity completion").

At most ``maxConcurrentActivityFunctions`` run at once; sync functions run in a thread pool, ``async``
ones on the event loop. The result (``TaskCompleted``, or ``TaskFailed`` with the exception's type and
message) is enqueued **before** the work item is deleted, so a crash in between can only run an
activity twice, never lose it. A long activity keeps its work item hidden by renewing it.

A work item that comes back unfinished a second time (dequeued twice before, within
``poisonMessageThreshold``) may be one whose activity kills its process. It is taken alone and run
alone, once the activities running beside it have finished, so that a crash charges only its own
dequeue count: the activities that happened to run beside it are not moved to the poison queue with
it. The first comeback runs as usual: it is most often a work item whose worker died (SIGKILL, a
deploy), and running those one at a time would hold a dead worker's work back by 3 s per item. An activity never starts while this process
is still checkpointing the orchestration that scheduled it (``ActivityWorkItems.settled``).

A work item is taken with a short visibility (``held_visibility``: 20 s with the default leases) and
renewed while its activity runs, so a dead worker's work items come back within that, not the
configured ``workItemQueueVisibilityTimeout``. When completing fails (the result cannot be sent), the
send is retried with backoff, then the work item is given back at once (abandoned with backoff,
runtime.md 7.5) rather than left hidden.

**Local dispatch** (on unless ``TASKHUB_LOCAL_DISPATCH=0``, see ``worker.pipeline.polling``): a work item this
process's checkpoint sends is written hidden and held, and runs here at once when there is room (no
receive, no polling delay). When the orchestration's control queue is owned by this process too, the
result is not sent at all: it goes straight into the orchestration's session, carried by the held work
item, which the orchestration's checkpoint deletes once the result is in the history. A crash before
that makes the work item visible again (after the held visibility, 20 s with the default leases) and
the activity runs again: at least once, as always; the duplicate completion is dropped by the
orchestration. Only first attempts (dispatched locally, or received once from the queue) of activities
that had already finished in this process before are handed over like this; the others send their
result through the control queue. Only activities that have already finished once in this process
run locally: the first call of each goes through the queue, so an activity that kills its process is
always counted by the queue's dequeue count (``poisonMessageThreshold``) and never runs locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from taskhub.config.settings import Settings
from taskhub.format.history import (
    HistoryEvent,
    OrchestrationInstance,
    TaskScheduledEvent,
)
from worker.backends.base import ActivityWorkItems, WorkMessage
from worker.executors.base import ActivityExecutor, ActivityWork, LeaveForLater
from worker.pipeline.polling import Backoff, local_dispatch_enabled
from worker.telemetry import record

__all__ = ["ActivityRunner"]

log = logging.getLogger(__name__)

AdoptKey = tuple[str, str, int]
"""(instance id, execution id, task id): the work item an activity started in memory stands for."""


def _key(instance: OrchestrationInstance, event: TaskScheduledEvent) -> AdoptKey:
    return (instance.instance_id or "", instance.execution_id or "", event.event_id)


class ActivityRunner:
    """Dequeues work items and runs activities until stopped."""

    def __init__(
        self, items: ActivityWorkItems, executor: ActivityExecutor, worker_id: str, *, settings: Settings
    ) -> None:
        self.items = items
        self.executor = executor
        self.worker_id = worker_id
        self.max_concurrent = settings.max_concurrent_activity_functions
        self.backoff = Backoff(settings.storage.max_queue_polling_interval)
        self._slots = asyncio.Semaphore(self.max_concurrent)
        self._running: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.started_count = 0
        self.poison_threshold = settings.storage.poison_message_threshold
        self._reserved = 0
        self._local = local_dispatch_enabled()
        self._proven: set[str] = set()
        """Activities that have finished at least once in this process (only they run locally)."""
        self._adoptable: dict[AdoptKey, asyncio.Future[HistoryEvent]] = {}
        """Runs started in memory by a group commit (``worker.pipeline.group_commit``) whose work items
        were committed while they ran: the work item takes the run's result instead of running again."""
        self.in_memory_count = 0
        """Activities run in memory by group commits (no work item written for them)."""
        self._unsubscribe = items.subscribe(
            wake=self.backoff.wake,
            reserve=self._reserve if self._local else None,
            take=self._take,
            release=self._release,
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="activities")

    async def stop(self, timeout: float = 60.0) -> bool:
        """Stop taking work items, then wait (up to ``timeout`` s) for running activities to finish and
        send their results; True if they all did. Those still running are cancelled (a sync one's thread
        runs on, but its result is not sent): their work items reappear after their held visibility."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.stop_taking()
        if self._task is not None:  # a receive stuck on a storage that does not answer is cancelled
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, max(deadline - loop.time(), 0.0))
        finished = True
        if self._running:
            _done, pending = await asyncio.wait(self._running, timeout=max(deadline - loop.time(), 0.0))
            for task in pending:
                task.cancel()
            if pending:
                finished = False
                log.info("activities.cancelled count=%d (still running at the end of the grace period)", len(pending))
                await asyncio.wait(pending, timeout=0.5)
        return finished

    def stop_taking(self) -> None:
        """Take no more work items (the first step of :meth:`stop`); running activities go on."""
        if not self._stop.is_set():
            self._stop.set()
            self.backoff.wake()
            self._unsubscribe()

    def _free(self) -> int:
        return self.max_concurrent - len(self._running) - self._reserved

    def _reserve(self, event: TaskScheduledEvent, instance: OrchestrationInstance) -> bool:
        """Local dispatch: take this work item here (an activity that has finished here before, and
        room for one more; the room is kept until taken or released)? The work item of a run started in
        memory is always taken: its run holds the room."""
        if self._stop.is_set():
            return False
        if _key(instance, event) not in self._adoptable and (
            self._free() <= 0 or (event.name or "") not in self._proven
        ):
            return False
        self._reserved += 1
        return True

    # -- group commit: activities run in memory (``worker.pipeline.group_commit``) --------------------

    def start_in_memory(
        self, instance: OrchestrationInstance, event: TaskScheduledEvent
    ) -> asyncio.Future[HistoryEvent] | None:
        """Run an activity now, before any work item for it exists, when local dispatch would have run
        it here (it has finished here before, and there is room); None otherwise. Its outcome
        (``TaskCompleted`` or ``TaskFailed``) is the future's result."""
        if not self._local or self._stop.is_set() or self._free() <= 0 or (event.name or "") not in self._proven:
            return None
        work = ActivityWork(instance.instance_id or "", event, instance.execution_id)
        task = asyncio.create_task(self._run_in_memory(work))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def _run_in_memory(self, work: ActivityWork) -> HistoryEvent:
        started = time.perf_counter()
        outcome = await self.executor.run_activity(work)
        if outcome.ran:
            self.started_count += 1
            self.in_memory_count += 1
        record.activity_done(work.event, work.instance_id, started, outcome.event)
        return outcome.event

    def adopt(
        self, instance: OrchestrationInstance, event: TaskScheduledEvent, run: asyncio.Future[HistoryEvent], ttl: float
    ) -> None:
        """The work item of ``run`` is being committed: when this process takes it (within ``ttl`` s),
        it completes with ``run``'s outcome instead of running the activity again."""
        key = _key(instance, event)
        self._adoptable[key] = run
        asyncio.get_running_loop().call_later(ttl, self._forget_adoptable, key, run)

    def _forget_adoptable(self, key: AdoptKey, run: asyncio.Future[HistoryEvent]) -> None:
        if self._adoptable.get(key) is run:
            del self._adoptable[key]

    def _take(self, m: WorkMessage) -> None:
        self._reserved -= 1
        self._spawn(m)

    def _release(self) -> None:
        self._reserved -= 1

    async def _loop(self) -> None:
        careful = False  # a work item came back unfinished: take them one at a time
        while not self._stop.is_set():
            free = self._free()
            if free <= 0:
                if self._running:
                    await asyncio.wait(set(self._running), return_when=asyncio.FIRST_COMPLETED)
                else:  # all room kept for local sends in flight
                    await asyncio.sleep(0.01)
                continue
            asked = 1 if careful else min(free, 32)
            try:
                batch = await self.items.fetch(asked)
            except Exception as err:
                action = f"work-item queue: receives again in up to {self.backoff.maximum:g} s"
                if not self.items.report(err, action):
                    log.exception("activities.receive_failed worker_id=%s", self.worker_id)
                await self.backoff.wait(self._stop)
                continue
            if not batch:
                careful = False
                await self.backoff.wait(self._stop)
                continue
            self.backoff.reset()
            suspects = [m for m in batch if self._suspect(m)]
            careful = bool(suspects)
            for m in batch:
                if not any(m is x for x in suspects):
                    self._spawn(m)
            if suspects:
                # back at once, to be taken (and run alone) one at a time
                await self.items.give_back(suspects[1:], at_once=True)
                await self._run_alone(suspects[0])
            elif len(batch) < asked:  # the queue is (nearly) drained: no empty poll right away
                await self.backoff.after_partial(self._stop)

    def _spawn(self, m: WorkMessage) -> asyncio.Task[None]:
        task = asyncio.create_task(self._handle(m))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    def _suspect(self, m: WorkMessage) -> bool:
        """A work item taken twice before that never finished: its activity may kill its process."""
        return 2 < m.dequeue_count <= self.poison_threshold

    async def _run_alone(self, m: WorkMessage) -> None:
        """Run a suspect with nothing else running or held in this process, so that if it kills the
        process again, only its own dequeue count grows: the activities that happened to run beside
        it are not poisoned with it."""
        stopping = asyncio.ensure_future(self._stop.wait())
        try:  # it stays held (renewed) while it waits
            while self._running and not self._stop.is_set():
                await asyncio.wait({*self._running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if self._stop.is_set():  # not started: give it back for whoever runs next
                await self.items.give_back([m], at_once=True)
                return
            # stop() waits for it (with its timeout) like for any running activity
            await asyncio.wait({self._spawn(m), stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()

    async def _handle(self, m: WorkMessage) -> None:
        handed = False
        try:
            handed = await self._handle_held(m)
        except Exception as err:
            if not self.items.report(err, f"work item {m.message_id}: given back, to run again later"):
                log.exception("activities.handle_failed id=%s", m.message_id)
            await self.items.give_back([m])
        finally:
            if not handed:  # handed over: the session holds it now
                self.items.release([m])

    async def _handle_held(self, m: WorkMessage) -> bool:
        """Run one work item; True when its result was handed to a local session with the item."""
        event = m.event
        if not isinstance(event, TaskScheduledEvent):
            await self.items.poison(m, f"a {event.event_type.name} event does not belong on the work-item queue")
            return False
        try:
            proven = (event.name or "") in self._proven  # before this run (see the module docstring)
            if m.dequeue_count > self.poison_threshold:
                result = await self.items.fail_poisoned(m, event)
            else:
                # not before this process's checkpoint that scheduled it is complete (see the module docstring)
                await self.items.settled(m.instance.instance_id or "")
                adopted = self._adoptable.pop(_key(m.instance, event), None)
                if adopted is not None:  # it ran in memory while its group committed: its outcome
                    result = await adopted
                else:
                    started = time.perf_counter()
                    result = await self.execute(m, event)
                    record.activity_done(event, m.instance.instance_id or "", started, result)
        except LeaveForLater as later:  # the executor found nobody to run it now: back, not counted
            await self.items.reject([m])
            log.info("activity.left_for_later id=%s name=%s reason=%s", m.message_id, event.name, later)
            return False
        except Exception as err:
            if not self.items.report(err, f"activity {event.name!r}: work item given back, to run later"):
                log.exception("activities.run_failed id=%s name=%s", m.message_id, event.name)
            await self.items.give_back([m])
            return False
        hand_over = self._local and proven and m.dequeue_count <= 1  # straight into the session
        return await self.items.complete(m, result, hand_over=hand_over)

    async def execute(self, m: WorkMessage, event: TaskScheduledEvent) -> HistoryEvent:
        """Run the activity through the executor; its outcome as TaskCompleted or TaskFailed."""
        name = event.name or ""
        work = ActivityWork(m.instance.instance_id or "", event, m.instance.execution_id)
        outcome = await self.executor.run_activity(work)
        if outcome.ran:
            self.started_count += 1
            self._proven.add(name)  # it ran (perhaps failed), and its process lived
        return outcome.event
