"""``AzureStorageBackend``: the backend seam (``worker.backends.base.Backend``) over a task hub in Azure
Storage, in the DTFx AzureStorage format.

Orchestration and entity work items arrive on the control queues (``listener``) and are committed by the
ordered checkpoint (``work_items``, ``checkpoint``); activity work items are the work-item queue's
(``activity_items``); the control queues are balanced by the lease-blob partition manager
(``partitions``) or, with ``useTablePartitionManagement``, the Partitions table's (``table_partitions``). The commits and the activity loop share one ``CheckpointsInProgress``: an activity
waits while this process still commits the orchestration that scheduled it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from taskhub.config.settings import Settings
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.partition_table import check_manager
from worker.backends.azure_storage.activity_items import AzureActivityItems
from worker.backends.azure_storage.checkpoint import CheckpointsInProgress
from worker.backends.azure_storage.listener import ControlQueueListener
from worker.backends.azure_storage.partitions import LeaseBlobPartitionManager
from worker.backends.azure_storage.table_partitions import TablePartitionManager
from worker.backends.azure_storage.work_items import AzureOrchestrationItems
from worker.backends.base import FastPaths, Intake, PartitionEvents, PartitionManager
from worker.pipeline.polling import local_dispatch_enabled

__all__ = ["AzureStorageBackend", "RECREATE_EVERY_S", "CLOSE_TIMEOUT"]

log = logging.getLogger(__name__)

RECREATE_EVERY_S = 5.0
"""A hub found missing is recreated at most this often (the loops all notice it at once)."""
CLOSE_TIMEOUT = 2.0
"""Seconds the last step of a stop (closing the storage clients) may take past the grace period."""


class AzureStorageBackend:
    """One worker's view of one task hub in Azure Storage."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hub = TaskHub(settings)
        in_progress = CheckpointsInProgress()
        self.orchestrations = AzureOrchestrationItems(self.hub, in_progress)
        self.activities = AzureActivityItems(self.hub, in_progress)
        self.local_dispatch = local_dispatch_enabled()
        """``TASKHUB_LOCAL_DISPATCH`` as it was when the worker was made (its listeners start later)."""
        self._recreated: Callable[[], None] | None = None
        self._recreating: asyncio.Task[None] | None = None
        self._recreated_at = -RECREATE_EVERY_S

    async def start(self) -> None:
        """Refuse a hub that uses the other partition manager (ConfigurationError), then create it."""
        table = self.settings.storage.use_table_partition_management
        await check_manager(self.hub.storage, self.hub.names, table)
        await self.hub.create_if_not_exists()

    async def close(self, timeout: float | None = None) -> None:
        if self._recreating is not None:
            self._recreating.cancel()
        await self.hub.queues.stop_holding(timeout)
        with contextlib.suppress(Exception):  # the last step of a stop: bounded, whatever the storage does
            await asyncio.wait_for(self.hub.close(), CLOSE_TIMEOUT)

    def stopping(self) -> None:
        self.hub.queues.stopping = True
        if self._recreating is not None:
            self._recreating.cancel()

    def watch(self, *, recreated: Callable[[], None]) -> None:
        self._recreated = recreated
        self.hub.storage.conditions.on_hub_missing = self._hub_missing

    def _hub_missing(self) -> None:
        """A queue, table or container of the hub is gone (storage wiped): create the hub again, once."""
        loop = asyncio.get_running_loop()
        if self.hub.queues.stopping or (self._recreating is not None and not self._recreating.done()):
            return
        if loop.time() - self._recreated_at < RECREATE_EVERY_S:
            return
        self._recreated_at = loop.time()
        self._recreating = asyncio.create_task(self._recreate_hub(), name="recreate-hub")

    async def _recreate_hub(self) -> None:
        try:
            await self.hub.recreate()
        except Exception as err:
            action = f"hub not recreated yet: tried again within {RECREATE_EVERY_S:g} s"
            if not self.hub.storage.conditions.report(err, action):
                log.exception("hub.recreate_failed hub=%s", self.settings.hub_name)
            return
        if self._recreated is not None:
            self._recreated()

    def partition_manager(self, worker_id: str, events: PartitionEvents) -> PartitionManager:
        """The lease-blob manager, or the Partitions table's with ``useTablePartitionManagement``."""
        if self.settings.storage.use_table_partition_management:
            return TablePartitionManager(self.hub, worker_id, events)
        return LeaseBlobPartitionManager(self.hub, worker_id, events)

    def listener(self, queue: str, intake: Intake, *, worker_id: str) -> ControlQueueListener:
        return ControlQueueListener(self.hub, queue, intake, worker_id=worker_id, local=self.local_dispatch)

    def fast_paths(self) -> FastPaths:
        queues, rows = self.hub.queues, self.orchestrations.rows
        activities = queues.local.by_queue.get(self.hub.names.work_item_queue, 0)
        return FastPaths(
            local_activities=activities,
            local_results=queues.local.deliveries - activities,
            rows_deferred=rows.deferred,
            rows_coalesced=rows.coalesced,
            wakeups_received=queues.wakeups.received,
        )
