"""``AzureStorageBackend``: the backend seam (``worker.backends.base.Backend``) over a task hub in Azure
Storage, in the DTFx AzureStorage format.

Orchestration and entity work items arrive on the control queues (``listener``) and are committed by the
ordered checkpoint (``work_items``, ``checkpoint``); activity work items are the work-item queue's
(``activity_items``); the control queues are balanced by the lease-blob partition manager
(``partitions``) or, with ``useTablePartitionManagement``, the Partitions table's (``table_partitions``). The commits and the activity loop share one ``CheckpointsInProgress``: an activity
waits while this process still commits the orchestration that scheduled it.
"""

from __future__ import annotations

from taskhub.config.settings import Settings
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.partition_table import check_manager
from worker.backends.azure_storage.activity_items import AzureActivityItems
from worker.backends.azure_storage.checkpoint import CheckpointsInProgress
from worker.backends.azure_storage.listener import ControlQueueListener
from worker.backends.azure_storage.partitions import LeaseBlobPartitionManager
from worker.backends.azure_storage.table_partitions import TablePartitionManager
from worker.backends.azure_storage.work_items import AzureOrchestrationItems
from worker.backends.base import Intake, PartitionEvents, PartitionManager

__all__ = ["AzureStorageBackend"]


class AzureStorageBackend:
    """One worker's view of one task hub in Azure Storage."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hub = TaskHub(settings)
        in_progress = CheckpointsInProgress()
        self.orchestrations = AzureOrchestrationItems(self.hub, in_progress)
        self.activities = AzureActivityItems(self.hub, in_progress)

    async def start(self) -> None:
        """Refuse a hub that uses the other partition manager (ConfigurationError), then create it."""
        table = self.settings.storage.use_table_partition_management
        await check_manager(self.hub.storage, self.hub.names, table)
        await self.hub.create_if_not_exists()

    async def close(self) -> None:
        await self.hub.queues.stop_holding()
        await self.hub.close()

    def partition_manager(self, worker_id: str, events: PartitionEvents) -> PartitionManager:
        """The lease-blob manager, or the Partitions table's with ``useTablePartitionManagement``."""
        if self.settings.storage.use_table_partition_management:
            return TablePartitionManager(self.hub, worker_id, events)
        return LeaseBlobPartitionManager(self.hub, worker_id, events)

    def listener(self, queue: str, intake: Intake, *, worker_id: str) -> ControlQueueListener:
        return ControlQueueListener(self.hub, queue, intake, worker_id=worker_id)
