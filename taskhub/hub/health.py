"""What the dashboard's health page and "waiting on" banner read from a hub's queues and lease blobs.

* :func:`read_health`: per control queue its depth, the age of its oldest visible message, and who owns
  it (the ``ownership/`` and ``intent/`` lease blobs: Owner and lease state; for a hub whose
  ``{Hub}Partitions`` table has rows, its CurrentOwner, expiry, IsDraining and NextOwner); the work-item queue's depth
  and oldest message; how many messages sit in the poison queue and how many large-message blobs exist;
  and the workers seen as lease owners.
* :func:`list_hubs`: the task hubs of the account (every ``{hub}Instances`` table with its
  ``{hub}History`` beside it).
* :func:`queued_for_instance`: the messages for one instance that wait, visible, in its control queue.

Azure Storage does not tell when a blob lease expires, only whether it is held; a held lease lapses
``leaseInterval`` after its holder last renewed it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from taskhub.client.service import HubHealth, QueuedMessage, QueueHealth
from taskhub.errors import FormatError, StorageError
from taskhub.format.history import utcnow
from taskhub.format.leases import LeaseBlob
from taskhub.format.names import HubNames
from taskhub.format.partition_rows import PartitionRow
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.partition_table import read_rows
from taskhub.storage import Storage

__all__ = ["QueueHealth", "HubHealth", "QueuedMessage", "read_health", "list_hubs", "queued_for_instance"]
__all__ += ["queue_health"]

log = logging.getLogger(__name__)

LARGE_MESSAGE_CAP = 10_000
"""Large-message blobs counted at most (listing is paged; a huge container would make the page slow)."""




async def _queue(storage: Storage, name: str, now: datetime) -> QueueHealth:
    q = QueueHealth(name)
    try:
        q.depth = await storage.queue_length(name)
        peeked = await storage.peek_messages(name, max_messages=1)
        if peeked and peeked[0].inserted_on is not None:
            q.oldest_age = max(timedelta(0), now - peeked[0].inserted_on)
    except StorageError as err:
        q.error = "missing" if err.not_found else str(err)
    return q


async def queue_health(storage: Storage, name: str) -> QueueHealth:
    """One queue's approximate depth and the age of its oldest visible message, read now."""
    return await _queue(storage, name, utcnow())


async def _lease(storage: Storage, names: HubNames, blob: str) -> tuple[str | None, str | None]:
    try:
        data, info = await storage.read_blob(names.lease_container, blob)
    except StorageError as err:
        if err.not_found:
            return None, None
        raise
    try:
        return LeaseBlob.from_json(data).owner or None, info.lease_state
    except FormatError:
        return None, info.lease_state


async def _control(hub: TaskHub, name: str, now: datetime) -> QueueHealth:
    q = await _queue(hub.storage, name, now)
    n = hub.names
    try:
        (q.owner, q.lease_state), (q.intent_owner, _) = await asyncio.gather(
            _lease(hub.storage, n, n.ownership_lease_blob(name)),
            _lease(hub.storage, n, n.intent_lease_blob(name)),
        )
    except StorageError as err:
        q.error = q.error or f"lease blobs: {err}"
    return q


async def _count_blobs(storage: Storage, container: str, cap: int) -> tuple[int, bool]:
    names = await storage.list_blobs(container)
    return min(len(names), cap), len(names) > cap


async def read_health(hub: TaskHub) -> HubHealth:
    """The hub's queues, leases and counts, read now (each part reports its own error)."""
    now = utcnow()
    n = hub.names
    health = HubHealth(n.hub, now, hub.settings.storage.lease_interval)
    controls = asyncio.gather(*(_control(hub, q, now) for q in n.control_queues))
    work = _queue(hub.storage, n.work_item_queue, now)
    poison = _queue(hub.storage, n.poison_queue, now)
    health.control_queues, health.work_items, poison_q = await asyncio.gather(controls, work, poison)
    try:
        rows = await read_rows(hub.storage, n)
    except (StorageError, FormatError) as err:
        rows = None
        health.errors.append(f"partitions table: {err}")
    if rows:
        health.manager = "table"
        _from_table(health, rows, now)
    health.poison_count = poison_q.depth if poison_q.error is None else 0  # no poison queue: none poisoned
    try:
        health.large_messages, health.large_messages_capped = await _count_blobs(
            hub.storage, n.large_message_container, LARGE_MESSAGE_CAP
        )
    except StorageError as err:
        health.errors.append(f"large messages: {err}")
    seen = {q.owner for q in health.control_queues} | {q.intent_owner for q in health.control_queues}
    health.workers = sorted(w for w in seen if w)
    return health


def _from_table(health: HubHealth, rows: list[PartitionRow], now: datetime) -> None:
    """Owners from the Partitions table: the live CurrentOwner, and NextOwner as the intent owner."""
    by_queue = {r.queue: r for r in rows}
    for q in health.control_queues:
        row = by_queue.get(q.name)
        if row is None:
            q.owner, q.lease_state, q.intent_owner = None, "missing", None
            continue
        live = row.current_owner is not None and not row.expired(now)
        q.owner = row.current_owner if live else None
        q.lease_state = (
            ("draining" if row.is_draining else "leased")
            if live
            else "expired"
            if row.current_owner
            else "available"
        )
        q.intent_owner = row.next_owner or q.owner
        if q.error and q.error.startswith("lease blobs"):
            q.error = None


async def list_hubs(storage: Storage) -> list[str]:
    """Names of the task hubs in the account, sorted (case as their tables spell it)."""
    tables = set(await storage.list_tables(""))
    hubs = {name[: -len("Instances")] for name in tables if name.endswith("Instances") and len(name) > 9}
    return sorted((h for h in hubs if f"{h}History" in tables), key=str.lower)



async def queued_for_instance(
    hub: TaskHub, instance_id: str, *, limit: int = 32
) -> tuple[str, int | None, list[QueuedMessage]]:
    """(control queue, its depth, the visible messages among the first ``limit`` that target the
    instance). Messages hidden by a worker that holds them, or by a timer's delay, are not seen."""
    queue = hub.names.control_queue_for(instance_id)
    try:
        depth = await hub.storage.queue_length(queue)
        raws = await hub.storage.peek_messages(queue, max_messages=limit)
    except StorageError as err:
        if err.not_found:
            return queue, None, []
        raise
    out: list[QueuedMessage] = []
    for inbound in await asyncio.gather(*(hub.queues.decode(r) for r in raws)):
        if inbound.data is None or inbound.data.task_message is None:
            continue
        if inbound.instance.instance_id != instance_id:
            continue
        event = inbound.event
        out.append(
            QueuedMessage(event.event_type.name, getattr(event, "name", None), inbound.raw.inserted_on)
        )
    return queue, depth, out
