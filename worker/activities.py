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
is still checkpointing the orchestration that scheduled it (``checkpoint_settled``).

A work item is taken with a short visibility (``held_visibility``: 20 s with the default leases) and
renewed while its activity runs, so a dead worker's work items come back within that, not the
configured ``workItemQueueVisibilityTimeout``. When completing fails (the result cannot be sent), the
send is retried with backoff, then the work item is given back at once (abandoned with backoff,
runtime.md 7.5) rather than left hidden.

**Local dispatch** (on unless ``TASKHUB_LOCAL_DISPATCH=0``, see ``worker.polling``): a work item this
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
import functools
import inspect
import logging
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from taskhub.format.history import (
    FailureDetails,
    HistoryEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TaskScheduledEvent,
)
from taskhub.format.messages import MessageData
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.queues import Inbound, LocalConsumer, held_visibility
from taskhub.model.app import App
from taskhub.model.context import ActivityContext
from taskhub.model.values import from_json, to_json
from worker.checkpoint import checkpoint_settled
from worker.polling import Backoff, local_dispatch_enabled

__all__ = ["ActivityRunner", "failure_of"]

log = logging.getLogger(__name__)

COMPLETE_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits between the attempts to send an activity's result (about 15 s in all)."""


def failure_of(err: BaseException) -> FailureDetails:
    """FailureDetails for a Python exception (type name, message, stack trace)."""
    cls = type(err)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    stack = "".join(traceback.format_exception(cls, err, err.__traceback__))
    return FailureDetails(error_type=name, message=str(err), stack_trace=stack)


class ActivityRunner:
    """Dequeues work items and runs activities until stopped."""

    def __init__(self, hub: TaskHub, app: App, worker_id: str, *, on_bad_message: Any = None) -> None:
        self.hub = hub
        self.app = app
        self.worker_id = worker_id
        self.on_bad_message = on_bad_message
        settings = hub.settings
        self.max_concurrent = settings.max_concurrent_activity_functions
        self.visibility = held_visibility(
            settings.storage.work_item_queue_visibility_timeout,
            settings.storage.lease_interval,
            settings.storage.lease_renew_interval,
        )
        self.queue = hub.names.work_item_queue
        self.backoff = Backoff(settings.storage.max_queue_polling_interval)
        self._slots = asyncio.Semaphore(self.max_concurrent)
        self._running: set[asyncio.Task[None]] = set()
        self._pool = ThreadPoolExecutor(max_workers=self.max_concurrent, thread_name_prefix="activity")
        self._stop = asyncio.Event()
        self._unsubscribe = hub.queues.on_enqueue(self.queue, self.backoff.wake)
        self._task: asyncio.Task[None] | None = None
        self.started_count = 0
        self.poison_threshold = settings.storage.poison_message_threshold
        self._reserved = 0
        self._local = local_dispatch_enabled()
        self._proven: set[str] = set()
        """Activities that have finished at least once in this process (only they run locally)."""
        """Slots kept for work items being sent locally (local dispatch, ``HubQueues.on_local``)."""
        self._unlocal = (
            hub.queues.on_local(
                self.queue,
                LocalConsumer(int(self.visibility.total_seconds()), self._reserve, self._take, self._release),
            )
            if self._local
            else (lambda: None)
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
        self._pool.shutdown(wait=False, cancel_futures=True)
        return finished

    def stop_taking(self) -> None:
        """Take no more work items (the first step of :meth:`stop`); running activities go on."""
        if not self._stop.is_set():
            self._stop.set()
            self.backoff.wake()
            self._unsubscribe()
            self._unlocal()

    def _free(self) -> int:
        return self.max_concurrent - len(self._running) - self._reserved

    def _reserve(self, data: MessageData) -> bool:
        """Local dispatch: take this work item here (an activity that has finished here before, and
        room for one more; the room is kept until taken or released)?"""
        event = data.task_message.event if data.task_message is not None else None
        name = event.name if isinstance(event, TaskScheduledEvent) else None
        if self._stop.is_set() or self._free() <= 0 or name not in self._proven:
            return False
        self._reserved += 1
        return True

    def _take(self, m: Inbound) -> None:
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
                batch = await self.hub.queues.receive(
                    self.queue,
                    max_messages=asked,
                    visibility_timeout=self.visibility,
                    hold=True,
                )
            except Exception as err:
                action = f"work-item queue: receives again in up to {self.backoff.maximum:g} s"
                if not self.hub.storage.conditions.report(err, action):
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
                for m in suspects[1:]:  # back at once, to be taken (and run alone) one at a time
                    await self.hub.queues.give_back(m, delay=0)
                await self._run_alone(suspects[0])
            elif len(batch) < asked:  # the queue is (nearly) drained: no empty poll right away
                await self.backoff.after_partial(self._stop)

    def _spawn(self, m: Inbound) -> asyncio.Task[None]:
        task = asyncio.create_task(self._handle(m))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    def _suspect(self, m: Inbound) -> bool:
        """A work item taken twice before that never finished: its activity may kill its process."""
        return m.data is not None and 2 < m.raw.dequeue_count <= self.poison_threshold

    async def _run_alone(self, m: Inbound) -> None:
        """Run a suspect with nothing else running or held in this process, so that if it kills the
        process again, only its own dequeue count grows: the activities that happened to run beside
        it are not poisoned with it."""
        stopping = asyncio.ensure_future(self._stop.wait())
        try:  # it stays held (renewed) while it waits
            while self._running and not self._stop.is_set():
                await asyncio.wait({*self._running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if self._stop.is_set():  # not started: give it back for whoever runs next
                await self.hub.queues.give_back(m, delay=0)
                return
            # stop() waits for it (with its timeout) like for any running activity
            await asyncio.wait({self._spawn(m), stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()

    async def _handle(self, m: Inbound) -> None:
        handed = False
        try:
            handed = await self._handle_held(m)
        except Exception as err:
            if not self.hub.storage.conditions.report(err, f"work item {m.raw.id}: given back, to run again later"):
                log.exception("activities.handle_failed id=%s", m.raw.id)
            await self.hub.queues.give_back(m)
        finally:
            if not handed:  # handed over: the session holds it now
                self.hub.queues.let_go([m])

    async def _handle_held(self, m: Inbound) -> bool:
        """Run one work item; True when its result was handed to a local session with the item."""
        if m.data is None:
            if self.on_bad_message is not None:
                await self.on_bad_message(m)
            else:
                log.error("activities.bad_message id=%s error=%s", m.raw.id, m.error)
                await self.hub.queues.abandon(m)
            return False
        event = m.event
        if not isinstance(event, TaskScheduledEvent):
            await self.hub.poison.move(
                m, f"a {event.event_type.name} event does not belong on the work-item queue"
            )
            return False
        try:
            proven = (event.name or "") in self._proven  # before this run (see the module docstring)
            if m.raw.dequeue_count > self.poison_threshold:
                result = await self._poisoned(m, event)
            else:
                # not before this process's checkpoint that scheduled it is complete (see checkpoint_settled)
                await checkpoint_settled(self.hub, m.instance.instance_id or "")
                result = await self.execute(m, event)
            md = self.hub.queues.envelope(
                result,
                m.instance,
                sender=m.instance,
                episode=m.data.episode if m.data.episode is not None else -1,
            )
        except Exception as err:
            if not self.hub.storage.conditions.report(err, f"activity {event.name!r}: work item given back, to run later"):
                log.exception("activities.run_failed id=%s name=%s", m.raw.id, event.name)
            await self.hub.queues.give_back(m)
            return False
        if self._local and proven and m.raw.dequeue_count <= 1:  # straight into the session
            control = self.hub.names.control_queue_for(m.instance.instance_id or "")
            if self.hub.queues.deliver_local(control, Inbound(m.raw, md)):
                return True
        await self._complete(m, md, event)
        return False

    async def _complete(self, m: Inbound, md: Any, event: TaskScheduledEvent) -> None:
        """Send the result, then delete the work item (runtime.md 7.6). The work item stays held while
        a failing send is retried with backoff; if it never goes through, the work item goes back at
        once (abandoned with backoff). A repeated send after a timeout may duplicate the completion:
        the orchestration drops completions it has seen."""
        for attempt, wait in enumerate((*COMPLETE_DELAYS, None), start=1):
            try:
                await self.hub.queues.send_to_instance(md, local=True)
                break
            except Exception as err:
                if wait is None:
                    action = f"activity {event.name!r}: result not sent; its work item is given back to run again"
                    if not self.hub.storage.conditions.report(err, action):
                        log.error("activities.complete_failed id=%s name=%s error=%s", m.raw.id, event.name, err)
                    await self.hub.queues.give_back(m)
                    return
                action = f"activity {event.name!r}: sends its result again in {wait:g} s (attempt {attempt})"
                if not self.hub.storage.conditions.report(err, action):
                    log.warning(
                        "activities.complete_retry id=%s name=%s attempt=%d error=%s", m.raw.id, event.name, attempt, err
                    )
                await asyncio.sleep(wait)
        for wait in (*COMPLETE_DELAYS[:3], None):
            try:
                await self.hub.queues.delete(m)
                return
            except Exception as err:  # it reappears and runs again; its completion is then dropped
                if wait is None:
                    action = "work item not deleted: it reappears later and its second result is dropped"
                    if not self.hub.storage.conditions.report(err, action):
                        log.warning("activities.delete_failed id=%s error=%s", m.raw.id, err)
                    return
                await asyncio.sleep(wait)

    async def _poisoned(self, m: Inbound, event: TaskScheduledEvent) -> HistoryEvent:
        """Move a work item that failed too often aside; the orchestration gets a TaskFailed it can handle."""
        n = m.raw.dequeue_count - 1
        reason = (
            f"activity {event.name!r} (task {event.event_id}) was moved to the poison queue after {n} "
            "attempts that never completed (it failed or crashed its worker each time)"
        )
        record = await self.hub.poison.move(m, reason, delete=False)  # deleted once the TaskFailed is sent
        details = FailureDetails(
            error_type="taskhub.PoisonMessage",
            message=f"{reason}; poison message id {record.message_id or record.origin_message_id}",
            is_non_retriable=True,
        )
        return TaskFailedEvent(task_scheduled_id=event.event_id, reason=str(details), failure_details=details)

    async def execute(self, m: Inbound, event: TaskScheduledEvent) -> HistoryEvent:
        """Run the activity; its outcome as TaskCompleted or TaskFailed."""
        name = event.name or ""
        fn = self.app.get_activity(name)
        if fn is None:
            known = ", ".join(self.app.activity_names) or "(none)"
            err = LookupError(f"activity {name!r} is not registered with this worker; registered: {known}")
            return TaskFailedEvent(
                task_scheduled_id=event.event_id, reason=str(err), failure_details=failure_of(err)
            )
        ctx = ActivityContext(
            orchestration_id=m.instance.instance_id or "", task_id=event.event_id, name=name
        )
        self.started_count += 1
        log.debug(
            "activity.start name=%s instance_id=%s task_id=%d", name, ctx.orchestration_id, event.event_id
        )
        try:
            value = from_json(event.input)
            if inspect.iscoroutinefunction(fn):
                output = await fn(ctx, value)
            else:
                loop = asyncio.get_running_loop()
                output = await loop.run_in_executor(self._pool, functools.partial(fn, ctx, value))
                if inspect.isawaitable(output):
                    output = await output
            result = to_json(output, what=f"output of activity {name!r}")
        except Exception as err:
            self._proven.add(name)  # it failed, but its process lived
            details = failure_of(err)
            return TaskFailedEvent(
                task_scheduled_id=event.event_id,
                reason=str(details),
                details=details.stack_trace,
                failure_details=details,
            )
        self._proven.add(name)
        return TaskCompletedEvent(task_scheduled_id=event.event_id, result=result)
