"""Reading a long history fast, for a viewer (the dashboard's instance page).

:func:`load_history_for_view` returns what :meth:`Tracking.load_history` returns (same events, sentinel
ETag, execution id, last checkpoint) but reads the History partition with the storage seam's
``query_page_lean`` (no SDK model deserialization) and decodes each page while the service prepares the
next one. On a 10,000-event history that is well under half the time of ``load_history``. The worker keeps
using ``load_history``: this path is for reads whose caller only shows the result.
"""

from __future__ import annotations

import asyncio

from taskhub.format.history import HistoryEvent
from taskhub.format.names import SENTINEL_ROW_KEY, escape_partition_key
from taskhub.format.rows import row_to_event
from taskhub.hub.tracking import HistoryLoad, Tracking, odata_quote
from taskhub.storage import QueryPage, Row

__all__ = ["load_history_for_view"]


async def load_history_for_view(tracking: Tracking, instance_id: str) -> HistoryLoad:
    """The current execution's events of ``instance_id`` (4.5 "Reading"), as ``load_history`` reads them."""
    storage, table = tracking.storage, tracking.history_table
    flt = f"PartitionKey eq {odata_quote(escape_partition_key(instance_id))}"
    rows: list[Row] = []
    events: list[HistoryEvent] = []
    pending: asyncio.Task[QueryPage] | None = asyncio.ensure_future(storage.query_page_lean(table, flt))
    try:
        while pending is not None:
            page = await pending
            pending = None
            if page.continuation_token:  # ask for the next page before decoding this one
                pending = asyncio.ensure_future(
                    storage.query_page_lean(table, flt, continuation_token=page.continuation_token)
                )
            for row in page.rows:
                rows.append(row)
                if row.get("RowKey") != SENTINEL_ROW_KEY:
                    await tracking.payloads.resolve_row(row)
                    events.append(row_to_event(row))
    finally:
        if pending is not None:
            pending.cancel()
    keys = [str(r.get("RowKey")) for r in rows]
    if keys != sorted(keys):  # the service answers in RowKey order; keep load_history's rule if not
        rows.sort(key=lambda r: str(r.get("RowKey")))
        events = [row_to_event(r) for r in rows if r.get("RowKey") != SENTINEL_ROW_KEY]
    sentinel = next((r for r in rows if r.get("RowKey") == SENTINEL_ROW_KEY), None)
    events_rows = [r for r in rows if r.get("RowKey") != SENTINEL_ROW_KEY]
    execution_id = (sentinel.get("ExecutionId") if sentinel is not None else None) or (
        events_rows[0].get("ExecutionId") if events_rows else None
    )
    kept = 0
    for row in events_rows:  # up to the first leftover of an older, longer execution
        if row.get("ExecutionId") != execution_id:
            break
        kept += 1
    return HistoryLoad(
        events=events[:kept],
        etag=sentinel.etag if sentinel is not None else None,
        execution_id=execution_id,
        last_checkpoint=sentinel.get("CheckpointCompletedTimestamp") if sentinel is not None else None,
    )
