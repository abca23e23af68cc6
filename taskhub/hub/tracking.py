"""The History and Instances tables (storage-format.md 4 and 5): read history, write checkpoints under
the sentinel ETag, and keep the Instances row.

History of an instance = the rows of its PartitionKey in RowKey order, up to the first row whose
ExecutionId differs from the sentinel's (leftovers of an older, longer execution), without the sentinel.
The sentinel's ETag is the only fence between two workers checkpointing one instance: every history
batch carries the sentinel, inserted for a new instance or merged with If-Match, so the loser of a race
gets 409/412 and must abandon its work.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from taskhub.format.history import (
    ContinueAsNewEvent,
    ExecutionCompletedEvent,
    ExecutionResumedEvent,
    ExecutionStartedEvent,
    ExecutionSuspendedEvent,
    ExecutionTerminatedEvent,
    HistoryEvent,
    OrchestrationStatus,
    utcnow,
)
from taskhub.format.names import SENTINEL_ROW_KEY, HubNames, escape_partition_key
from taskhub.format.rows import (
    HistoryLoad,
    InstanceRow,
    event_to_row,
    row_to_event,
    sentinel_row,
    split_history_batches,
)
from taskhub.hub.payloads import Payloads
from taskhub.storage import BatchOp, QueryPage, Row, Storage

__all__ = ["Tracking", "HistoryLoad", "odata_quote", "instance_columns_for_episode"]

log = logging.getLogger(__name__)


def odata_quote(value: str) -> str:
    """A string literal for an OData filter."""
    return "'" + value.replace("'", "''") + "'"


class Tracking:
    """History and Instances table access for one hub."""

    def __init__(self, storage: Storage, names: HubNames, payloads: Payloads) -> None:
        self.storage = storage
        self.names = names
        self.payloads = payloads

    @property
    def history_table(self) -> str:
        return self.names.history_table

    @property
    def instances_table(self) -> str:
        return self.names.instances_table

    # -- history ------------------------------------------------------------------------------------

    async def load_history(self, instance_id: str, expected_execution_id: str | None = None) -> HistoryLoad:
        """The current execution's events, the sentinel ETag and execution id (4.5 "Reading")."""
        pk = escape_partition_key(instance_id)
        flt = f"PartitionKey eq {odata_quote(pk)}"
        if expected_execution_id:
            flt += f" and (RowKey eq '{SENTINEL_ROW_KEY}' or ExecutionId eq {odata_quote(expected_execution_id)})"
        rows = [row async for row in self.storage.query(self.history_table, flt)]
        rows.sort(key=lambda r: str(r.get("RowKey")))
        sentinel: Row | None = next((r for r in rows if r.get("RowKey") == SENTINEL_ROW_KEY), None)
        events_rows = [r for r in rows if r.get("RowKey") != SENTINEL_ROW_KEY]
        execution_id = (sentinel.get("ExecutionId") if sentinel is not None else None) or (
            events_rows[0].get("ExecutionId") if events_rows else None
        )
        if expected_execution_id and execution_id != expected_execution_id:
            return HistoryLoad()
        kept: list[Row] = []
        for row in events_rows:
            if row.get("ExecutionId") != execution_id:
                break
            kept.append(row)
        events = []
        for row in kept:
            await self.payloads.resolve_row(row)
            events.append(row_to_event(row))
        return HistoryLoad(
            events=events,
            etag=sentinel.etag if sentinel is not None else None,
            execution_id=execution_id,
            last_checkpoint=sentinel.get("CheckpointCompletedTimestamp") if sentinel is not None else None,
        )

    async def write_history(
        self,
        instance_id: str,
        execution_id: str,
        new_events: Sequence[HistoryEvent],
        *,
        first_sequence: int,
        etag: str | None,
        now: datetime | None = None,
    ) -> tuple[str | None, dict[int, dict[str, str]]]:
        """Append ``new_events`` at ``first_sequence`` in batches, each fenced by the sentinel.

        Returns the new sentinel ETag and, per event index, the columns that went to blobs.
        Raises StorageError (conflict / precondition failed) when another writer got there first.
        """
        rows: list[dict[str, Any]] = []
        offloaded: dict[int, dict[str, str]] = {}
        for i, event in enumerate(new_events):
            row = event_to_row(
                event, instance_id=instance_id, sequence=first_sequence + i, execution_id=execution_id
            )
            moved = await self.payloads.offload_row(row, event.event_type.name)
            if moved:
                offloaded[i] = moved
            rows.append(row)
        batches = split_history_batches(rows) if rows else [[]]
        for n, batch in enumerate(batches):
            last = n == len(batches) - 1
            sentinel = sentinel_row(instance_id, execution_id, complete=last, now=now or utcnow())
            ops = [BatchOp("upsert_replace", r) for r in batch]
            ops.append(
                BatchOp("insert", sentinel)
                if etag is None
                else BatchOp("merge_if_match", sentinel, etag=etag)
            )
            etags = await self.storage.submit_batch(self.history_table, ops)
            etag = etags[-1]
        return etag, offloaded

    async def history_row_keys(self, instance_id: str) -> list[str]:
        flt = f"PartitionKey eq {odata_quote(escape_partition_key(instance_id))}"
        return [
            str(r["RowKey"]) async for r in self.storage.query(self.history_table, flt, select=["RowKey"])
        ]

    async def delete_history(self, instance_id: str) -> int:
        """Delete every History row of the instance (batches of 100, up to 10 at a time); returns the count."""
        pk = escape_partition_key(instance_id)
        keys = await self.history_row_keys(instance_id)
        chunks = [keys[i : i + 100] for i in range(0, len(keys), 100)]
        sem = asyncio.Semaphore(10)

        async def one(chunk: list[str]) -> None:
            async with sem:
                await self.storage.submit_batch(
                    self.history_table, [BatchOp("delete", {"PartitionKey": pk, "RowKey": k}) for k in chunk]
                )

        await asyncio.gather(*(one(c) for c in chunks))
        return len(keys)

    # -- instances ----------------------------------------------------------------------------------

    async def get_instance(self, instance_id: str) -> InstanceRow | None:
        row = await self.storage.get_entity(self.instances_table, escape_partition_key(instance_id), "")
        if row is None:
            return None
        inst = InstanceRow.from_row(row)
        inst.etag = row.etag
        return inst

    async def get_instances(self, instance_ids: Iterable[str]) -> dict[str, InstanceRow | None]:
        ids = list(dict.fromkeys(instance_ids))
        found = await asyncio.gather(*(self.get_instance(i) for i in ids))
        return dict(zip(ids, found, strict=True))

    async def insert_instance(self, inst: InstanceRow) -> str:
        """Insert a new Instances row (conflict if one exists)."""
        row = inst.to_row()
        await self.payloads.offload_row(row)
        return await self.storage.insert_entity(self.instances_table, row)

    async def replace_instance(self, inst: InstanceRow, *, etag: str) -> str:
        """Replace an existing row If-Match ``etag`` (re-creating a finished instance id)."""
        row = inst.to_row()
        await self.payloads.offload_row(row)
        return await self.storage.update_entity(self.instances_table, row, etag=etag, mode="replace")

    async def merge_instance(
        self, instance_id: str, columns: dict[str, Any], *, etag: str | None = None
    ) -> str:
        """InsertOrMerge (or Merge If-Match) some columns of the Instances row."""
        row = {"PartitionKey": escape_partition_key(instance_id), "RowKey": "", **columns}
        if etag:
            return await self.storage.update_entity(self.instances_table, row, etag=etag)
        return await self.storage.upsert_entity(self.instances_table, row, mode="merge")

    async def mark_terminated(
        self, instance_id: str, *, reason: str, at: datetime | None, completed: datetime
    ) -> None:
        """Mark the Instances row Terminated (an instance terminated before it started, runtime.md 7.4)."""
        await self.merge_instance(
            instance_id,
            {
                "RuntimeStatus": OrchestrationStatus.TERMINATED.value,
                "LastUpdatedTime": at,
                "CompletedTime": completed,
                "Output": reason,
            },
        )

    async def delete_instance(self, instance_id: str) -> bool:
        return await self.storage.delete_entity(self.instances_table, escape_partition_key(instance_id), "")

    async def query_instances(
        self,
        *,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: Sequence[OrchestrationStatus] | None = None,
        instance_id_prefix: str | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
    ) -> tuple[list[InstanceRow], str | None]:
        """One page of Instances rows matching the filters, and the next page's token."""
        page: QueryPage = await self.storage.query_page(
            self.instances_table,
            instances_filter(
                created_from=created_from,
                created_to=created_to,
                statuses=statuses,
                instance_id_prefix=instance_id_prefix,
            ),
            page_size=page_size,
            continuation_token=continuation_token,
        )
        out = []
        for row in page.rows:
            inst = InstanceRow.from_row(row)
            inst.etag = row.etag
            out.append(inst)
        return out, page.continuation_token


def instances_filter(
    *,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    statuses: Sequence[OrchestrationStatus] | None = None,
    instance_id_prefix: str | None = None,
) -> str:
    """The OData filter DTFx uses for instance queries (storage-format.md 5, "Queries")."""
    from taskhub.format.timefmt import format_datetime

    parts = ["RowKey eq ''"]
    if instance_id_prefix:
        lo = escape_partition_key(instance_id_prefix)
        hi = lo[:-1] + chr(ord(lo[-1]) + 1)
        parts.append(f"PartitionKey ge {odata_quote(lo)} and PartitionKey lt {odata_quote(hi)}")
    if created_from:
        parts.append(f"CreatedTime ge datetime'{format_datetime(created_from)}'")
    if created_to:
        parts.append(f"CreatedTime le datetime'{format_datetime(created_to)}'")
    if statuses:
        ors = " or ".join(f"RuntimeStatus eq {odata_quote(OrchestrationStatus(s).value)}" for s in statuses)
        parts.append(f"({ors})")
    return " and ".join(parts)


def instance_columns_for_episode(
    new_events: Sequence[HistoryEvent],
    *,
    execution_id: str,
    custom_status: str | None,
    hub_name: str,
    now: datetime,
) -> dict[str, Any]:
    """The Instances columns a checkpoint merges, from the episode's new events (storage-format.md 5.2)."""
    cols: dict[str, Any] = {
        "CustomStatus": custom_status if custom_status is not None else "null",
        "ExecutionId": execution_id,
        "LastUpdatedTime": new_events[-1].timestamp if new_events else now,
        "TaskHubName": hub_name,
    }
    for e in new_events:
        if isinstance(e, ExecutionStartedEvent):
            cols.update(
                Name=e.name or "",
                Version=e.version or "",
                CreatedTime=e.timestamp,
                RuntimeStatus=OrchestrationStatus.RUNNING.value,
                Tags=json.dumps(e.tags, separators=(",", ":")) if e.tags is not None else "null",
                Generation=e.generation or 0,
            )
            if e.scheduled_start_time:
                cols["ScheduledStartTime"] = e.scheduled_start_time
            if e.input is not None:
                cols["Input"] = e.input
        elif isinstance(e, (ExecutionCompletedEvent, ContinueAsNewEvent)):
            cols["RuntimeStatus"] = OrchestrationStatus(e.orchestration_status).value
            cols["CompletedTime"] = now
            out = str(e.failure_details) if e.failure_details is not None else e.result
            if out is not None:
                cols["Output"] = out
        elif isinstance(e, ExecutionTerminatedEvent):
            cols["RuntimeStatus"] = OrchestrationStatus.TERMINATED.value
            cols["CompletedTime"] = now
            if e.input is not None:
                cols["Output"] = e.input
        elif isinstance(e, ExecutionSuspendedEvent):
            cols["RuntimeStatus"] = OrchestrationStatus.SUSPENDED.value
            if e.reason is not None:
                cols["Output"] = e.reason
        elif isinstance(e, ExecutionResumedEvent):
            cols["RuntimeStatus"] = OrchestrationStatus.RUNNING.value
            if e.reason is not None:
                cols["Output"] = e.reason
    return cols
