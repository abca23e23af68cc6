"""``Worker``: the composition root of the runtime (api.md section 3).

Lifecycle (``WorkerState``): CREATED -> STARTED -> DRAINING -> STOPPED.

* start: create the hub if needed, start the partition-lease loop and the activity loop; each control
  queue whose lease is won gets a listener.
* stop (graceful, also on SIGINT/SIGTERM in :meth:`Worker.run`): stop taking new messages, let running
  sessions checkpoint and running activities finish, then release the leases - all within the grace
  period (``shutdownGracePeriodInSeconds``, 30 s). Every wait is bounded by what is left of it, so a
  storage that does not answer neither shortens nor lengthens a stop: what could not be given back or
  released reappears after its held visibility (20 s with the default leases), as after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.partition_table import check_manager
from taskhub.hub.queues import Inbound
from taskhub.model.app import App
from worker.activities import ActivityRunner
from worker.orchestrations import OrchestrationRunner
from worker.partitions import PartitionManager
from worker.sessions import ControlQueueListener, Sessions
from worker.table_partitions import TablePartitionManager

__all__ = ["Worker", "WorkerState", "default_worker_id"]

log = logging.getLogger(__name__)

RECREATE_EVERY_S = 5.0
"""A hub found missing is recreated at most this often (the loops all notice it at once)."""
CLOSE_TIMEOUT = 2.0
"""Seconds the last step of a stop (closing the storage clients) may take past the grace period."""


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

    def __init__(self, app: App, settings: Settings | None = None, *, worker_id: str | None = None) -> None:
        if not isinstance(app, App):
            raise TypeError(f"Worker needs a taskhub.App, got {type(app).__name__}")
        self.app = app
        self.settings = settings or Settings.load()
        _check_partition_manager(self.settings)
        self.worker_id = worker_id or default_worker_id()
        self.state = WorkerState.CREATED
        self.hub = TaskHub(self.settings)
        self.orchestrations = OrchestrationRunner(self.hub, app, self.worker_id)
        self.sessions = Sessions(
            self.orchestrations.process,
            max_concurrent=self.settings.max_concurrent_orchestrator_functions,
            queues=self.hub.queues,
        )
        self.activities = ActivityRunner(self.hub, app, self.worker_id, on_bad_message=self._bad_message)
        manager = (
            TablePartitionManager
            if self.settings.storage.use_table_partition_management
            else PartitionManager
        )
        self.partitions: PartitionManager | TablePartitionManager = manager(
            self.hub,
            self.worker_id,
            start_listening=self._start_listening,
            stop_listening=self._stop_listening,
            ownership_lost=self._ownership_lost,
            is_busy=self._is_busy,
            peer_gone=self._peer_gone,
        )
        self.listeners: dict[str, ControlQueueListener] = {}
        self._recreating: asyncio.Task[None] | None = None
        self._recreated_at = -RECREATE_EVERY_S
        self.hub.storage.conditions.on_hub_missing = self._hub_missing

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.state is not WorkerState.CREATED:
            raise RuntimeError(f"a worker starts once; this one is {self.state.value}")
        try:  # one partition manager per hub: refuse to join a hub that uses the other one
            await check_manager(
                self.hub.storage, self.hub.names, self.settings.storage.use_table_partition_management
            )
        except ConfigurationError:
            self.state = WorkerState.STOPPED
            await self.hub.close()
            raise
        await self.hub.create_if_not_exists()
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
            await self.hub.close()
            return
        self.state = WorkerState.DRAINING
        loop = asyncio.get_running_loop()
        grace = self.settings.shutdown_grace_period.total_seconds() if grace is None else grace
        deadline = loop.time() + grace

        def left() -> float:
            return max(0.0, deadline - loop.time())

        log.info("worker.draining worker_id=%s grace_s=%.0f", self.worker_id, grace)
        self.hub.queues.stopping = True  # give-backs try once: no retries past the deadline
        if self._recreating is not None:
            self._recreating.cancel()
        # Take no new work, then release intents, and each ownership once its queue drained.
        self.activities.stop_taking()
        listening = list(self.listeners.values())
        self.listeners.clear()
        await _within(asyncio.gather(*(listener.stop() for listener in listening)), left())
        await self.partitions.shutdown(left())
        drained = await self.sessions.drain(left())
        if not drained:
            await self.sessions.cancel()
        await _within(self.orchestrations.close(), left())
        finished = await self.activities.stop(left())
        self.listeners.clear()
        await self.hub.queues.stop_holding(left())
        await _within(self.hub.close(), CLOSE_TIMEOUT)
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

    # -- partitions ---------------------------------------------------------------------------------

    @property
    def owned_queues(self) -> list[str]:
        """Queues this worker holds the ownership lease of."""
        return self.partitions.owned_queues()

    async def _start_listening(self, queue: str) -> None:
        if self.state is not WorkerState.STARTED or queue in self.listeners:
            return
        listener = ControlQueueListener(
            self.hub, queue, self.sessions, worker_id=self.worker_id, on_bad_message=self._bad_message
        )
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
        self.orchestrations.forget()
        # visible again at once, for the new owner
        await asyncio.gather(*(self.hub.queues.give_back(m, delay=0) for m in dropped))

    def _hub_missing(self) -> None:
        """A queue, table or container of the hub is gone (storage wiped): create the hub again, once."""
        loop = asyncio.get_running_loop()
        if self.state is not WorkerState.STARTED or (self._recreating is not None and not self._recreating.done()):
            return
        if loop.time() - self._recreated_at < RECREATE_EVERY_S:
            return
        self._recreated_at = loop.time()
        self._recreating = asyncio.create_task(self._recreate_hub(), name="recreate-hub")

    async def _recreate_hub(self) -> None:
        try:
            await self.hub.recreate()
        except Exception as err:
            if not self.hub.storage.conditions.report(err, f"hub not recreated yet: tried again within {RECREATE_EVERY_S:g} s"):
                log.exception("hub.recreate_failed hub=%s", self.settings.hub_name)
            return
        self.orchestrations.forget()  # what this process remembers of the old hub's instances
        self._peer_gone()  # poll at once

    def _peer_gone(self) -> None:
        """Another worker's lease went away: poll now for the work it held (it is visible again)."""
        self.activities.backoff.wake()
        for listener in self.listeners.values():
            listener.backoff.wake()

    async def _bad_message(self, m: Inbound) -> None:
        """A message that cannot be decoded will never be: it goes to the poison queue, with why."""
        try:
            await self.hub.poison.move(m, f"cannot be decoded: {m.error}")
        except Exception as err:
            action = "an undecodable message stays where it is: moved to the poison queue when it comes back"
            if not self.hub.storage.conditions.report(err, action):
                log.exception("message.poison_failed queue=%s id=%s", m.queue, m.raw.id)
            await self.hub.queues.give_back(m)

    def describe(self) -> dict[str, Any]:
        return {"worker_id": self.worker_id, "state": self.state.value, "queues": self.owned_queues}
