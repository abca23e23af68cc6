"""Create and delete every storage resource of a task hub (storage-format.md 1.1).

``TaskHub(settings).create_if_not_exists()`` makes, in the DTFx order:

1. the app-lease container ``{h}-applease`` with blob ``{h}-appleaseinfo`` = ``{}``;
2. the lease store: container ``{h}-leases`` with ``taskhub.json`` (blob partition manager, the default),
   or the table ``{H}Partitions`` (``useTablePartitionManagement``);
3. in parallel: the History and Instances tables, the work-item queue, every control queue, and for
   each control queue its ``intent/`` and ``ownership/`` lease blobs (or its Partitions row).

``{h}-largemessages`` is created lazily, on first use. Every step is idempotent and tolerates another
process creating the same resource at the same moment.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from dataclasses import dataclass, field

from taskhub.config.settings import Settings
from taskhub.errors import StorageError
from taskhub.format.history import utcnow
from taskhub.format.leases import LeaseBlob, TaskHubInfo
from taskhub.format.names import HubNames
from taskhub.format.partition_rows import PartitionRow
from taskhub.hub.partition_table import read_rows, table_view
from taskhub.hub.payloads import Payloads
from taskhub.hub.poison import PoisonQueue
from taskhub.hub.queues import HubQueues
from taskhub.hub.tracking import Tracking
from taskhub.storage import Storage

__all__ = ["TaskHub", "HubResources"]

log = logging.getLogger(__name__)


@dataclass
class HubResources:
    """What exists of a hub: queue, table and container names, and the blobs of its lease containers."""

    queues: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    blobs: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.queues or self.tables or self.containers)


class TaskHub:
    """The storage resources of one task hub. Use ``async with TaskHub(settings) as hub``.

    It also bundles the hub's data access for the client and the worker: ``storage`` (the seam),
    ``names``, ``payloads`` (large blobs), ``tracking`` (History/Instances), ``queues`` and ``poison``.
    """

    def __init__(self, settings: Settings, *, storage: Storage | None = None) -> None:
        self.settings = settings
        self.names = HubNames(
            settings.hub_name,
            settings.storage.partition_count,
            settings.storage.tracking_store_name_prefix if settings.tracking_connection else None,
        )
        self._own_storage = storage is None
        self.storage = storage or Storage(settings)
        self.payloads = Payloads(
            self.storage,
            self.names,
            base64_messages=settings.storage.queue_client_message_encoding.upper() == "BASE64",
        )
        self.tracking = Tracking(self.storage, self.names, self.payloads)
        self.queues = HubQueues(self.storage, self.names, self.payloads)
        self.poison = PoisonQueue(self.storage, self.names, self.queues)
        self._created = False

    async def __aenter__(self) -> TaskHub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_storage:
            await self.storage.close()

    # -- create ---------------------------------------------------------------------------------------

    async def create_if_not_exists(self) -> None:
        """Create every resource that is missing; cheap once done in this process."""
        if self._created:
            return
        n = self.names
        s = self.storage
        made = [await s.create_container(n.app_lease_container)]
        made.append(await self._create_blob(n.app_lease_container, n.app_lease_info_blob, "{}"))
        table_mode = self.settings.storage.use_table_partition_management
        if table_mode:
            made.append(await s.create_table(n.partitions_table))
        else:
            made.append(await s.create_container(n.lease_container))
            made.append(await self._write_task_hub_info())
        tasks: list[Awaitable[bool]] = [
            s.create_table(n.history_table),
            s.create_table(n.instances_table),
            s.create_queue(n.work_item_queue),
        ]
        for queue in n.control_queues:
            tasks.append(self._create_control_queue(queue, table_mode))
        made += await asyncio.gather(*tasks)
        self._created = True
        if any(made):
            log.info(
                "hub.created hub=%s partitions=%d resources_created=%d", n.hub, n.partition_count, sum(made)
            )
        else:
            log.debug("hub.ready hub=%s partitions=%d (it existed)", n.hub, n.partition_count)

    async def recreate(self) -> None:
        """Create what is missing again although this process created the hub before: its queues, tables
        or containers were deleted under it (storage wiped, or an in-memory Azurite restarted)."""
        self._created = False
        await self.create_if_not_exists()
        log.warning(
            "hub.recreated hub=%s: its queues, tables or containers were gone (storage wiped or restarted "
            "empty); created them again, and the worker goes on",
            self.names.hub,
        )

    async def _create_control_queue(self, queue: str, table_mode: bool) -> bool:
        """Create the queue and its lease records where missing; True when anything was created."""
        made = await self.storage.create_queue(queue)
        if table_mode:
            try:
                await self.storage.insert_entity(
                    self.names.partitions_table, PartitionRow.new(queue).to_entity()
                )
                made = True
            except StorageError as err:
                if not err.conflict:
                    raise
            return made
        content = LeaseBlob(partition_id=queue).to_json()
        for blob in (HubNames.intent_lease_blob(queue), HubNames.ownership_lease_blob(queue)):
            made = await self._create_blob(self.names.lease_container, blob, content) or made
        return made

    async def _create_blob(self, container: str, name: str, content: str) -> bool:
        """Upload only if absent (If-None-Match: *); False when it already existed."""
        try:
            await self.storage.upload_blob(container, name, content.encode("utf-8"), if_none_match=True)
            return True
        except StorageError as err:
            if err.conflict or err.precondition_failed or err.lease_lost:
                return False
            raise

    async def _write_task_hub_info(self) -> bool:
        """Write taskhub.json where missing (True) or stale; False when it was there and right."""
        n = self.names
        info = TaskHubInfo(n.hub, utcnow(), n.partition_count)
        if await self._create_blob(n.lease_container, HubNames.TASK_HUB_INFO_BLOB, info.to_json()):
            return True
        existing = TaskHubInfo.from_json(
            await self.storage.download_blob(n.lease_container, HubNames.TASK_HUB_INFO_BLOB)
        )
        if existing.task_hub_name.lower() != n.hub.lower() or existing.partition_count != n.partition_count:
            log.warning(
                "hub.info_stale hub=%s found=%s/%d expected=%s/%d; overwriting taskhub.json",
                n.hub,
                existing.task_hub_name,
                existing.partition_count,
                n.hub,
                n.partition_count,
            )
            await self.storage.upload_blob(
                n.lease_container, HubNames.TASK_HUB_INFO_BLOB, info.to_json().encode()
            )
        return False

    # -- inspect / delete -----------------------------------------------------------------------------

    def _is_hub_queue(self, name: str) -> bool:
        low = re.escape(self.names.lower)
        return re.fullmatch(rf"{low}-(control-\d{{2,}}|workitems|poison)", name) is not None

    async def resources(self) -> HubResources:
        """List what exists of this hub (and only of this hub)."""
        n = self.names
        s = self.storage
        queues = [q for q in await s.list_queues(n.lower + "-") if self._is_hub_queue(q)]
        wanted_tables = {t.lower() for t in (n.history_table, n.instances_table, n.partitions_table)}
        tables = [t for t in await s.list_tables("") if t.lower() in wanted_tables]
        wanted_containers = {n.lease_container, n.app_lease_container, n.large_message_container}
        containers = [c for c in await s.list_containers(n.lower + "-") if c in wanted_containers]
        blobs = {c: sorted(await s.list_blobs(c)) for c in containers if c != n.large_message_container}
        return HubResources(sorted(queues), sorted(tables), sorted(containers), blobs)

    async def partitions(self) -> list[dict[str, object]]:
        """For every control queue: the ownership and intent lease blobs' owner, lease state and epoch;
        for a hub whose Partitions table has rows, the same shape from its rows (``partition_table``)."""
        rows = await read_rows(self.storage, self.names)
        if rows:
            return table_view(rows, self.names, utcnow())
        out: list[dict[str, object]] = []
        s = self.storage
        container = self.names.lease_container

        async def read(blob: str) -> dict[str, object]:
            try:
                info = await s.blob_properties(container, blob)
                content = LeaseBlob.from_json(await s.download_blob(container, blob))
            except StorageError as err:
                if err.not_found:
                    return {"owner": None, "leaseState": "missing", "epoch": None}
                raise
            owner = content.owner if info.lease_state == "leased" else None
            return {
                "owner": owner,
                "leaseState": info.lease_state,
                "epoch": content.epoch,
                "lastOwner": content.owner,
            }

        for queue in self.names.control_queues:
            own, intent = await asyncio.gather(
                read(HubNames.ownership_lease_blob(queue)), read(HubNames.intent_lease_blob(queue))
            )
            out.append({"queue": queue, "manager": "blobs", "ownership": own, "intent": intent})
        return out

    async def delete(self) -> HubResources:
        """Delete every resource of this hub and nothing else; returns what was deleted."""
        found = await self.resources()
        s = self.storage
        await asyncio.gather(
            *(s.delete_queue(q) for q in found.queues),
            *(s.delete_table(t) for t in found.tables),
            *(s.delete_container(c) for c in found.containers),
        )
        self._created = False
        log.info(
            "hub.deleted hub=%s queues=%d tables=%d containers=%d",
            self.names.hub,
            len(found.queues),
            len(found.tables),
            len(found.containers),
        )
        return found
