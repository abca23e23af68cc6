"""``Worker``: the composition root of the runtime (api.md section 3).

Lifecycle (``WorkerState``): CREATED -> STARTED -> DRAINING -> STOPPED.

* start: create the hub if needed, start the partition manager and the activity loop; each control
  queue whose lease is won gets a listener.

The worker is composed of two seams: the executor that runs the app's code (``worker.executors``) and
the backend that holds the hub (``worker.backends``), both picked in ``worker.registry``; between them
the pipeline (``worker.pipeline``) and the pure engine (``worker.engine``).
* stop (graceful, also on SIGINT/SIGTERM in :meth:`Worker.run`): stop taking new messages, let running
  sessions checkpoint and running activities finish, then release the leases - all within the grace
  period (``shutdownGracePeriodInSeconds``, 30 s). Every wait is bounded by what is left of it, so a
  storage that does not answer neither shortens nor lengthens a stop: what could not be given back or
  released reappears after its held visibility (20 s with the default leases), as after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import os
import signal
import socket
import uuid
from collections.abc import Awaitable
from typing import Any

from taskhub.config.settings import Settings
from taskhub.errors import ConfigurationError
from taskhub.model.app import App
from worker.backends.base import Backend, FastPaths, Listener, PartitionEvents
from worker.executors.base import Executor
from worker.pipeline.activities import ActivityRunner
from worker.pipeline.entities import EntityRunner
from worker.pipeline.instance_cache import InstanceCache
from worker.pipeline.orchestrations import OrchestrationRunner
from worker.pipeline.sessions import Sessions
from worker.pipeline.workitem import ControlQueueWork
from worker.registry import backend_for, executor_for

__all__ = ["Worker", "WorkerState", "default_worker_id"]

log = logging.getLogger(__name__)


class WorkerState(enum.Enum):
    CREATED = "created"
    STARTED = "started"
    DRAINING = "draining"
    STOPPED = "stopped"


def _check_partition_manager(settings: Settings) -> None:
    s = settings.storage
    if s.use_legacy_partition_management:
        raise ConfigurationError(
            "extensions.durableTask.storageProvider.useLegacyPartitionManagement",
            True,
            "this worker balances partitions with the safe blob manager (intent/ownership lease blobs) or, "
            "with useTablePartitionManagement=true, the Partitions table; the legacy manager is not implemented",
        )


async def _within(aw: Awaitable[object], timeout: float) -> bool:
    """Await ``aw`` for at most ``timeout`` s (then cancel it); True when it finished in time."""
    try:
        await asyncio.wait_for(aw, max(timeout, 0.0))
        return True
    except TimeoutError:
        return False
    except Exception as err:  # a stop goes on whatever one step does
        log.warning("worker.stop_step_failed error=%s", err)
        return False


def default_worker_id() -> str:
    """Unique per process: host name, process id and a short random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs the orchestrations and activities of ``app`` against one task hub."""

    def __init__(
        self,
        app: App,
        settings: Settings | None = None,
        *,
        worker_id: str | None = None,
        executor: Executor | None = None,
        backend: Backend | None = None,
    ) -> None:
        if not isinstance(app, App):
            raise TypeError(f"Worker needs a taskhub.App, got {type(app).__name__}")
        self.app = app
        self.settings = settings or Settings.load()
        _check_partition_manager(self.settings)
        self.worker_id = worker_id or default_worker_id()
        self.state = WorkerState.CREATED
        self.executor = executor if executor is not None else executor_for(app, self.settings)
        """Runs the app's code (``worker.executors.base``); ``worker.registry`` picks it for the app."""
        self.backend = backend if backend is not None else backend_for(self.settings)
        """Holds the hub (``worker.backends.base``); ``worker.registry`` picks it for the settings."""
        self.work = self._pipeline()
        self.sessions = Sessions(
            self.work.process,
            max_concurrent=self.settings.max_concurrent_orchestrator_functions,
            items=self.backend.orchestrations,
        )
        self.activities = ActivityRunner(
            self.backend.activities, self.executor, self.worker_id, settings=self.settings
        )
        self.orchestrations.in_memory = self.activities  # group commits run their activities there
        events = PartitionEvents(
            start_listening=self._start_listening,
            stop_listening=self._stop_listening,
            ownership_lost=self._ownership_lost,
            is_busy=self._is_busy,
            peer_gone=self._peer_gone,
        )
        self.partitions = self.backend.partition_manager(self.worker_id, events)
        self.listeners: dict[str, Listener] = {}
        self.backend.watch(recreated=self._hub_recreated)

    def _pipeline(self) -> ControlQueueWork:
        """The control queues' work items: orchestrations and entities, over one history cache."""
        s = self.settings
        cache = InstanceCache(
            sessions=s.extended_sessions_enabled is not False and self.executor.keeps_sessions,
            idle_timeout_s=s.extended_session_idle_timeout.total_seconds(),
        )
        items = self.backend.orchestrations
        self.orchestrations = OrchestrationRunner(items, self.executor, self.worker_id, cache, settings=s)
        self.entities = EntityRunner(items, self.executor, self.worker_id, cache, settings=s)
        return ControlQueueWork(self.orchestrations, self.entities)

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.state is not WorkerState.CREATED:
            raise RuntimeError(f"a worker starts once; this one is {self.state.value}")
        try:  # one partition manager per hub: the backend refuses to join a hub that uses the other one
            await self.backend.start()
        except ConfigurationError:
            self.state = WorkerState.STOPPED
            self.executor.close()
            await self.backend.close()
            raise
        self.state = WorkerState.STARTED
        log.info(
            "worker.start worker_id=%s hub=%s partitions=%d orchestrators=%s activities=%s",
            self.worker_id,
            self.settings.hub_name,
            self.settings.storage.partition_count,
            self.app.orchestrator_names,
            self.app.activity_names,
        )
        self.activities.start()
        self.partitions.start()

    async def stop(self, grace: float | None = None) -> None:
        """Drain and release within ``grace`` seconds (default: ``shutdownGracePeriodInSeconds``): stop
        dequeuing, let running sessions checkpoint and activities finish, release the leases. Whatever
        is still running at the deadline is cancelled; its messages reappear after their visibility."""
        if self.state in (WorkerState.DRAINING, WorkerState.STOPPED):
            return
        if self.state is WorkerState.CREATED:
            self.state = WorkerState.STOPPED
            self.executor.close()
            await self.backend.close()
            return
        self.state = WorkerState.DRAINING
        loop = asyncio.get_running_loop()
        grace = self.settings.shutdown_grace_period.total_seconds() if grace is None else grace
        deadline = loop.time() + grace

        def left() -> float:
            return max(0.0, deadline - loop.time())

        log.info("worker.draining worker_id=%s grace_s=%.0f", self.worker_id, grace)
        self.backend.stopping()  # give-backs try once: no retries past the deadline
        # Take no new work, then release intents, and each ownership once its queue drained.
        self.activities.stop_taking()
        listening = list(self.listeners.values())
        self.listeners.clear()
        await _within(asyncio.gather(*(listener.stop() for listener in listening)), left())
        await self.partitions.shutdown(left())
        drained = await self.sessions.drain(left())
        if not drained:
            await self.sessions.cancel()
        await _within(self.backend.orchestrations.flush(), left())
        finished = await self.activities.stop(left())
        self.executor.close()
        await self.backend.close(left())
        self.state = WorkerState.STOPPED
        log.info(
            "worker.stopped worker_id=%s drained=%s activities_finished=%s in_s=%.1f",
            self.worker_id,
            drained,
            finished,
            grace - left(),
        )

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def run(self) -> None:
        """Run until SIGINT or SIGTERM, then stop gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
                loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    @property
    def fast_paths(self) -> FastPaths:
        """How often each fast path was taken since this worker started (README "Performance"); also
        ``taskhub_fast_path_total`` in the metrics."""
        o = self.orchestrations
        return dataclasses.replace(
            self.backend.fast_paths(),
            sessions_resumed=o.cache.resumed,
            group_steps=o.grouped_steps - o.groups,
            group_activities=self.activities.in_memory_count,
        )

    # -- partitions ---------------------------------------------------------------------------------

    @property
    def owned_queues(self) -> list[str]:
        """Queues this worker holds the ownership lease of."""
        return self.partitions.owned_queues()

    async def _start_listening(self, queue: str) -> None:
        if self.state is not WorkerState.STARTED or queue in self.listeners:
            return
        listener = self.backend.listener(queue, self.sessions, worker_id=self.worker_id)
        self.listeners[queue] = listener
        listener.start()

    async def _stop_listening(self, queue: str) -> None:
        """The intent moved away: take no new messages; what is in memory still gets processed."""
        listener = self.listeners.pop(queue, None)
        if listener is not None:
            await listener.stop()

    def _is_busy(self, queue: str) -> bool:
        return queue in self.listeners or self.sessions.active_for(queue) > 0

    async def _ownership_lost(self, queue: str) -> None:
        """The ownership lease is gone: stop at once and drop batches that have not started."""
        await self._stop_listening(queue)
        dropped = self.sessions.drop_queue(queue)
        self.work.forget()
        await self.backend.orchestrations.give_back(dropped, at_once=True)  # for the new owner

    def _hub_recreated(self) -> None:
        """The hub was found gone (storage wiped) and created again: forget what this process remembers
        of the old hub's instances and poll at once."""
        self.work.forget()
        self._peer_gone()

    def _peer_gone(self) -> None:
        """Another worker's lease went away: poll now for the work it held (it is visible again)."""
        self.activities.backoff.wake()
        for listener in self.listeners.values():
            listener.wake()

    def describe(self) -> dict[str, Any]:
        return {"worker_id": self.worker_id, "state": self.state.value, "queues": self.owned_queues}
