"""The Azure Storage implementation of the client's backend seam (``taskhub.client.service``).

``AzureStorageService`` is what ``TaskHubClient`` uses: an instance starts as ``ExecutionStarted`` on its
control queue, then its Instances row (Pending); events are one control-queue message each; reads are
Instances and History rows; purge deletes the History rows and the large-message blobs, then the
Instances row; rewind edits the history in place (:mod:`taskhub.hub.rewind`). ``AzureStorageHubAdmin``
(its ``admin``) is the operator's view over the same :class:`~taskhub.hub.lifecycle.TaskHub`.

A hub that does not exist yet reads as empty; the first send creates it (about 25 storage calls, so
only then, once per service).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from taskhub.client.service import HubHealth, OrchestrationServiceClient, QueuedMessage
from taskhub.config.settings import Settings
from taskhub.errors import StorageError
from taskhub.format.history import (
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
)
from taskhub.format.rows import InstanceRow
from taskhub.hub.backlog import BacklogReader
from taskhub.hub.health import list_hubs, queued_for_instance, read_health
from taskhub.hub.history_view import load_history_for_view
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.rewind import rewind_instance
from taskhub.hub.scale import read_scale_status
from taskhub.telemetry.metrics import Metrics

__all__ = ["AzureStorageService", "AzureStorageHubAdmin"]

T = TypeVar("T")


class AzureStorageHubAdmin:
    """The operator's view of one hub: resources, health, partitions, scale, metrics, poison."""

    def __init__(self, hub: TaskHub) -> None:
        self.hub = hub
        self._backlog = BacklogReader()

    async def create_hub(self) -> dict[str, Any]:
        await self.hub.create_if_not_exists()
        return asdict(await self.hub.resources())

    async def delete_hub(self) -> dict[str, Any]:
        return asdict(await self.hub.delete())

    async def list_hubs(self) -> list[str]:
        return await list_hubs(self.hub.storage)

    async def health(self) -> HubHealth:
        return await read_health(self.hub)

    async def queued_for(
        self, instance_id: str, *, limit: int = 32
    ) -> tuple[str, int | None, list[QueuedMessage]]:
        return await queued_for_instance(self.hub, instance_id, limit=limit)

    async def history_for_view(self, instance_id: str) -> list[HistoryEvent]:
        return (await load_history_for_view(self.hub.tracking, instance_id)).events

    async def partition_owners(self) -> list[dict[str, object]]:
        return await self.hub.partitions()

    async def worker_seen(self) -> bool:
        """Some worker holds (has renewed within the lease interval) an intent or ownership lease on one
        of the hub's control queues (a lease blob, or a live Partitions row)."""
        for p in await self.hub.partitions():
            if "leased" in (p["ownership"]["leaseState"], p["intent"]["leaseState"]):  # type: ignore[index]
                return True
        return False

    async def scale_status(self) -> dict[str, Any]:
        return (await read_scale_status(self.hub)).to_json()

    async def collect_metrics(self, into: Metrics) -> None:
        await self._backlog(into, self.hub)

    async def poisoned(self) -> list[dict[str, object]]:
        return [r.summary() for r in await self.hub.poison.list()]

    async def requeue_poisoned(self, message_id: str) -> str:
        return (await self.hub.poison.requeue(message_id)).origin_queue


class AzureStorageService:
    """The client's store of one task hub on Azure Storage (the DTFx format). ``hub`` is its
    :class:`~taskhub.hub.lifecycle.TaskHub` (queues, tables, blobs), for tools that look at storage."""

    def __init__(self, settings: Settings, *, hub: TaskHub | None = None) -> None:
        self._own_hub = hub is None
        self.hub = hub or TaskHub(settings)
        self._admin = AzureStorageHubAdmin(self.hub)
        self._ready = False

    @property
    def admin(self) -> AzureStorageHubAdmin:
        return self._admin

    async def close(self) -> None:
        if self._own_hub:
            await self.hub.close()

    async def _creating_hub(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation``; if the hub's resources do not exist yet, create them once and retry."""
        try:
            return await operation()
        except StorageError as err:
            if not err.not_found or self._ready:
                raise
        await self.hub.create_if_not_exists()
        self._ready = True
        return await operation()

    # -- read ---------------------------------------------------------------------------------------

    async def get_instance(self, instance_id: str) -> InstanceRow | None:
        try:
            return await self.hub.tracking.get_instance(instance_id)
        except StorageError as err:
            if err.not_found:  # the hub's tables do not exist yet
                return None
            raise

    async def query_instances(
        self,
        *,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: list[OrchestrationStatus] | None = None,
        instance_id_prefix: str | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
    ) -> tuple[list[InstanceRow], str | None]:
        try:
            return await self.hub.tracking.query_instances(
                created_from=created_from,
                created_to=created_to,
                statuses=statuses,
                instance_id_prefix=instance_id_prefix,
                page_size=page_size,
                continuation_token=continuation_token,
            )
        except StorageError as err:
            if err.not_found:
                return [], None
            raise

    async def history(self, instance_id: str) -> list[HistoryEvent]:
        return (await self.hub.tracking.load_history(instance_id)).events

    async def resolve_payload(self, value: str | None) -> str | None:
        return await self.hub.payloads.resolve_instance_value(value)

    # -- write --------------------------------------------------------------------------------------

    async def create_instance(
        self,
        event: ExecutionStartedEvent,
        row: InstanceRow,
        *,
        existing_etag: str | None,
        visible_at: datetime | None,
    ) -> None:
        """ExecutionStarted first, then the Instances row (DTFx's order). The listeners on this machine
        are woken only once the row is written: a worker woken in between would find no row for the
        start dedupe (runtime.md 7.3) and hold the start back."""
        queues = self.hub.queues
        md = queues.envelope(
            event, event.orchestration_instance or OrchestrationInstance(row.instance_id, None)
        )
        sent = await self._creating_hub(
            lambda: queues.send_to_instance(md, visible_at=visible_at, wake=False)
        )
        if sent.blob_name:  # offloaded: the Instances Input is the message blob's URL (3.6 step 4)
            row.input = self.hub.payloads.message_blob_url(sent.blob_name)
        try:
            if existing_etag is None:
                await self.hub.tracking.insert_instance(row)
            else:
                await self.hub.tracking.replace_instance(row, etag=existing_etag)
        except StorageError as err:  # DTFx swallows 409/412 here: the worker's checkpoint wins
            if not (err.conflict or err.precondition_failed):
                raise
        finally:
            if sent.due:  # now the hub's listeners on this machine may come for it
                queues.wakeups.notify(sent.queue)

    async def send_event(
        self, instance_id: str, event: HistoryEvent, *, visible_at: datetime | None = None
    ) -> None:
        queues = self.hub.queues
        md = queues.envelope(event, OrchestrationInstance(instance_id, None))
        await self._creating_hub(lambda: queues.send_to_instance(md, visible_at=visible_at))

    async def rewind(self, instance_id: str, reason: str | None) -> None:
        await rewind_instance(self.hub, instance_id, reason)

    async def purge_instance(self, instance_id: str) -> None:
        tracking = self.hub.tracking
        await asyncio.gather(
            tracking.delete_history(instance_id), self.hub.payloads.delete_instance_blobs(instance_id)
        )
        await tracking.delete_instance(instance_id)


if TYPE_CHECKING:  # mypy holds the implementation against the seam (it is registered by name only)

    def _fits(settings: Settings) -> OrchestrationServiceClient:
        return AzureStorageService(settings)
