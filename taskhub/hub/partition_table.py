"""The ``{Hub}Partitions`` table of the table partition manager, and which manager a hub uses.

* :func:`read_rows`: every row with its ETag (one query; None when the table does not exist).
* :func:`manager_in_use`: ``"table"`` when the Partitions table has rows, ``"blobs"`` when an
  ``intent/`` or ``ownership/`` lease blob is leased (a blob-lease worker holds it now, or did within
  ``leaseInterval``), else None (nobody: a worker may join with either).
* :func:`check_manager`: the one-line refusal for a worker configured for the other manager.
* :func:`table_view`: ``taskhub get-partitions`` for a table hub, in the same shape as the lease blobs'.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from taskhub.errors import ConfigurationError, StorageError
from taskhub.format.names import HubNames
from taskhub.format.partition_rows import PartitionRow
from taskhub.format.timefmt import format_datetime
from taskhub.storage import Storage

__all__ = ["Manager", "read_rows", "manager_in_use", "check_manager", "table_view", "SETTING"]

Manager = Literal["table", "blobs"]
SETTING = "extensions.durableTask.storageProvider.useTablePartitionManagement"
_DESCRIBE = {"table": "the Partitions table", "blobs": "lease blobs"}


async def read_rows(storage: Storage, names: HubNames) -> list[PartitionRow] | None:
    """Every row of the hub's Partitions table (one query), or None when there is no such table."""
    try:
        page = await storage.query_page(names.partitions_table, "PartitionKey eq ''")
    except StorageError as err:
        if err.not_found:
            return None
        raise
    return [PartitionRow.from_row(r) for r in page.rows]


async def manager_in_use(storage: Storage, names: HubNames) -> Manager | None:
    """Which partition manager the hub's workers use now (the table wins, as in DTFx)."""
    if await read_rows(storage, names):
        return "table"

    async def leased(blob: str) -> bool:
        try:
            return (await storage.blob_properties(names.lease_container, blob)).lease_state == "leased"
        except StorageError as err:
            if err.not_found:
                return False
            raise

    blobs = [
        b for q in names.control_queues for b in (names.intent_lease_blob(q), names.ownership_lease_blob(q))
    ]
    if any(await asyncio.gather(*(leased(b) for b in blobs))):
        return "blobs"
    return None


async def check_manager(storage: Storage, names: HubNames, use_table: bool) -> None:
    """Raise a one-line :class:`ConfigurationError` when the hub uses the other manager."""
    mine: Manager = "table" if use_table else "blobs"
    found = await manager_in_use(storage, names)
    if found is None or found == mine:
        return
    if found == "table":
        where, fix = f"table {names.partitions_table} has rows", "set it to true"
    else:
        where = "its lease blobs are held"
        fix = "set it to false, or stop those workers and wait for their leases to lapse"
    raise ConfigurationError(
        SETTING,
        use_table,
        f"task hub {names.hub} balances its partitions with {_DESCRIBE[found]} ({where}) but this worker is "
        f"set for {_DESCRIBE[mine]}; one manager per hub: {fix}",
    )


def _time(value: datetime | None) -> str | None:
    return format_datetime(value) if value is not None else None


def table_view(rows: list[PartitionRow], names: HubNames, now: datetime) -> list[dict[str, Any]]:
    """Per control queue, the owner as the lease-blob view shows it (``ownership``: the live
    CurrentOwner; ``intent``: NextOwner when a steal is under way, else the owner) plus the raw row."""
    by_queue = {r.queue: r for r in rows}
    out: list[dict[str, Any]] = []
    for queue in names.control_queues:
        row = by_queue.get(queue)
        if row is None:
            missing = {"owner": None, "leaseState": "missing", "epoch": None}
            out.append({"queue": queue, "manager": "table", "ownership": missing, "intent": dict(missing)})
            continue
        live = row.current_owner is not None and not row.expired(now)
        state = "leased" if live else "expired" if row.current_owner else "available"
        owner = row.current_owner if live else None
        intent = row.next_owner or owner
        out.append(
            {
                "queue": queue,
                "manager": "table",
                "ownership": {
                    "owner": owner,
                    "leaseState": state,
                    "epoch": None,
                    "lastOwner": row.current_owner,
                },
                "intent": {"owner": intent, "leaseState": state, "epoch": None},
                "row": {
                    "CurrentOwner": row.current_owner,
                    "NextOwner": row.next_owner,
                    "OwnedSince": _time(row.owned_since),
                    "LastRenewal": _time(row.last_renewal),
                    "ExpiresAt": _time(row.expires_at),
                    "IsDraining": row.is_draining,
                },
            }
        )
    return out
