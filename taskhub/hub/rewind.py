"""Rewind a Failed orchestration the way Durable Functions' Azure Storage backend does (storage-format.md
4.7, ``RewindHistoryAsync``): the history is edited in place, then the instance is woken up.

1. The execution to rewind is the current one (the ExecutionId of the last ``OrchestratorStarted``).
2. Its rows with ``OrchestrationStatus == 'Failed'`` (the failed ``ExecutionCompleted``), ``TaskFailed``
   and ``SubOrchestrationInstanceFailed`` become ``GenericEvent`` rows with ``Reason = "Rewound:
   {EventType}"``; so does the ``TaskScheduled`` a ``TaskFailed`` answers. The
   ``SubOrchestrationInstanceCreated`` of a failed sub-orchestration only gets the ``Reason``, and the
   child is rewound the same way (recursively).
3. Each rewound instance's Instances row goes back to ``Pending``.
4. Each failed leaf (an instance whose own activities failed, or whose failure came from no child) gets
   a ``GenericEvent(-1, reason)`` message on its control queue.

On the next episode the replay skips the ``GenericEvent`` rows, so the code calls the failed activities
and sub-orchestrations again and goes on from there; a rewound child reports to its parent when it
completes.
"""

from __future__ import annotations

import logging
from typing import Any

from taskhub.format.history import GenericEvent, OrchestrationInstance, OrchestrationStatus, utcnow
from taskhub.format.names import SENTINEL_ROW_KEY, escape_partition_key
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.payloads import BLOB_NAME_SUFFIX
from taskhub.hub.tracking import odata_quote
from taskhub.storage import Row

__all__ = ["rewind_instance", "rewind_plan"]

log = logging.getLogger(__name__)

_FAILED_KINDS = ("TaskFailed", "SubOrchestrationInstanceFailed")


def rewind_plan(rows: list[Row]) -> tuple[list[Row], list[Row], list[str]]:
    """Pure: from an instance's History rows (any order), the rows to turn into ``GenericEvent``, the
    ``SubOrchestrationInstanceCreated`` rows that only get a ``Reason``, and the child ids to rewind."""
    events = sorted((r for r in rows if r.get("RowKey") != SENTINEL_ROW_KEY), key=lambda r: str(r["RowKey"]))
    started = [r for r in events if r.get("EventType") == "OrchestratorStarted"]
    if not started:
        return [], [], []
    execution = started[-1].get("ExecutionId")
    current = [r for r in events if r.get("ExecutionId") == execution]
    by_id: dict[tuple[str, int], Row] = {}
    for r in current:
        if r.get("EventType") in ("TaskScheduled", "SubOrchestrationInstanceCreated"):
            by_id[(str(r["EventType"]), int(r.get("EventId", -1)))] = r
    to_generic: list[Row] = []
    reason_only: list[Row] = []
    children: list[str] = []
    for r in current:
        kind = r.get("EventType")
        if kind == "TaskFailed" or (
            kind == "ExecutionCompleted" and r.get("OrchestrationStatus") == OrchestrationStatus.FAILED.value
        ):
            to_generic.append(r)
            sched = by_id.get(("TaskScheduled", int(r.get("TaskScheduledId", -2))))
            if kind == "TaskFailed" and sched is not None:
                to_generic.append(sched)
        elif kind == "SubOrchestrationInstanceFailed":
            to_generic.append(r)
            created = by_id.get(("SubOrchestrationInstanceCreated", int(r.get("TaskScheduledId", -2))))
            if created is not None:
                reason_only.append(created)
                if created.get("InstanceId"):
                    children.append(str(created["InstanceId"]))
    return to_generic, reason_only, children


async def _history_rows(hub: TaskHub, instance_id: str) -> list[Row]:
    flt = f"PartitionKey eq {odata_quote(escape_partition_key(instance_id))}"
    return [row async for row in hub.storage.query(hub.names.history_table, flt)]


def _rewritten(row: Row, *, generic: bool) -> dict[str, Any]:
    kind = str(row.get("EventType"))
    out: dict[str, Any] = {
        k: v for k, v in row.items() if not (k.startswith("Reason") and k.endswith(BLOB_NAME_SUFFIX))
    }
    out["Reason"] = f"Rewound: {kind}"
    if generic:
        out["EventType"] = "GenericEvent"
    return out


async def rewind_instance(hub: TaskHub, instance_id: str, reason: str | None) -> list[str]:
    """Edit the history of ``instance_id`` (and of its failed children) as DF's rewind does and wake up
    the failed leaves; returns the ids of the rewound instances, parent first."""
    rewound: list[str] = []
    leaves: list[str] = []

    async def one(iid: str) -> None:
        rows = await _history_rows(hub, iid)
        to_generic, reason_only, children = rewind_plan(rows)
        table = hub.names.history_table
        for row in to_generic:
            await hub.storage.update_entity(
                table, _rewritten(row, generic=True), etag=row.etag, mode="replace"
            )
        for row in reason_only:
            await hub.storage.update_entity(
                table, _rewritten(row, generic=False), etag=row.etag, mode="replace"
            )
        await hub.tracking.merge_instance(
            iid, {"RuntimeStatus": OrchestrationStatus.PENDING.value, "LastUpdatedTime": utcnow()}
        )
        rewound.append(iid)
        if any(r.get("EventType") == "TaskFailed" for r in to_generic) or not children:
            leaves.append(iid)
        for child in children:
            await one(child)

    await one(instance_id)
    for iid in leaves:
        event = GenericEvent(event_id=-1, data=reason or "")
        await hub.queues.send_to_instance(hub.queues.envelope(event, OrchestrationInstance(iid, None)))
    log.info("client.rewound instance_id=%s instances=%s leaves=%s", instance_id, rewound, leaves)
    return rewound
