"""The one ordered commit of an orchestration episode (runtime.md 7.6, storage-format.md 4.5, 5).

:func:`checkpoint` does, in this order, and nothing else:

1. **Enqueue the outbound messages**, in parallel: activities to the work-item queue, messages to other
   instances to their control queues, timers to this instance's control queue, delayed until they fire.
2. **Write the history**: the episode's events appended after the loaded ones (or, after ContinueAsNew,
   the new execution's events from RowKey 0), in batches of at most 99 events, each with the sentinel
   row inserted (new instance) or merged If-Match the ETag read with the history. A 409/412 means
   another worker checkpointed this instance first: :class:`SplitBrainError`, nothing of this batch is
   committed, and the caller abandons the messages. The outbound messages already sent are harmless
   duplicates (the receivers drop completions they have seen and messages of other executions).
3. **Merge the Instances row** with the status, output and custom status the episode produced.
4. **Delete the consumed queue messages.**

A crash between any two steps leaves the instance recoverable: the messages reappear after their
visibility timeout and the episode is replayed from the history that did commit.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

from taskhub.errors import StorageError
from taskhub.history import (
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationInstance,
    OrchestratorStartedEvent,
    utcnow,
)
from taskhub.hub import TaskHub
from taskhub.queues import Inbound
from taskhub.rows import MAX_PROPERTY_UTF16_BYTES, utf16_size
from taskhub.tracking import HistoryLoad, instance_columns_for_episode
from worker.episode import Episode, Outbound

__all__ = ["checkpoint", "SplitBrainError", "CheckpointResult", "FAULT_ENV"]

log = logging.getLogger(__name__)

FAULT_ENV = "TASKHUB_TEST_FAULT"
"""Test-only: kill this process at a checkpoint step (after_outbound, after_history, after_instance,
before_delete). Never set in production."""


class SplitBrainError(Exception):
    """Another worker committed this instance's history first; this episode must be abandoned."""


@dataclass
class CheckpointResult:
    etag: str | None
    execution_id: str
    history: list[HistoryEvent]


def _fault(step: str) -> None:
    if os.environ.get(FAULT_ENV) == step:
        log.error("checkpoint.fault_injected step=%s pid=%d", step, os.getpid())
        os._exit(86)


async def checkpoint(
    hub: TaskHub,
    *,
    instance_id: str,
    loaded: HistoryLoad,
    episode: Episode,
    consumed: Sequence[Inbound],
) -> CheckpointResult:
    """Commit one episode in the order of the module docstring; returns the new history state."""
    restarted = episode.continued_as_new or episode.execution_id != loaded.execution_id
    past = [] if restarted else loaded.events
    execution_id = episode.new_execution_id or episode.execution_id
    full = [*past, *episode.history]
    episode_no = sum(1 for e in full if isinstance(e, OrchestratorStartedEvent))
    sender = OrchestrationInstance(instance_id, execution_id)

    # 1. outbound messages
    await asyncio.gather(*(_send(hub, o, sender, episode_no) for o in episode.outbound))
    _fault("after_outbound")

    # 2. history, fenced by the sentinel ETag
    now = utcnow()
    try:
        etag, offloaded = await hub.tracking.write_history(
            instance_id,
            execution_id,
            episode.history,
            first_sequence=len(past),
            etag=loaded.etag,
            now=now,
        )
    except StorageError as err:
        if err.conflict or err.precondition_failed:
            log.warning(
                "checkpoint.split_brain hub=%s instance_id=%s execution_id=%s code=%s",
                hub.names.hub,
                instance_id,
                execution_id,
                err.code,
            )
            raise SplitBrainError(f"instance {instance_id!r} was checkpointed by another worker") from err
        raise
    _fault("after_history")

    # 3. the Instances row
    columns = instance_columns_for_episode(
        episode.history,
        execution_id=execution_id,
        custom_status=episode.custom_status,
        hub_name=hub.settings.hub_name,
        now=now,
    )
    await _large_instance_values(hub, instance_id, episode.history, offloaded, columns)
    await hub.tracking.merge_instance(instance_id, columns)
    _fault("after_instance")

    # 4. the consumed messages
    _fault("before_delete")
    await asyncio.gather(*(hub.queues.delete(m) for m in consumed))
    return CheckpointResult(etag, execution_id, full)


async def _send(hub: TaskHub, out: Outbound, sender: OrchestrationInstance, episode_no: int) -> None:
    q = hub.queues
    if out.kind == "activity":
        md = q.envelope(out.event, out.target, sender=sender, episode=episode_no, tags=out.tags or {})
        await q.send_work_item(md)
        return
    tags = out.tags if isinstance(out.event, ExecutionStartedEvent) and out.tags is not None else None
    md = q.envelope(out.event, out.target, sender=sender, episode=episode_no, tags=tags)
    await q.send_to_instance(md, visible_at=out.visible_at)


async def _large_instance_values(
    hub: TaskHub,
    instance_id: str,
    history: Sequence[HistoryEvent],
    offloaded: dict[int, dict[str, str]],
    columns: dict[str, object],
) -> None:
    """Instances Input/Output that went to history blobs become those blobs' URLs (storage-format 4.4)."""
    container = hub.names.large_message_container
    for index, moved in offloaded.items():
        event = history[index]
        if isinstance(event, ExecutionStartedEvent) and "Input" in moved and "Input" in columns:
            columns["Input"] = hub.storage.blob_url(container, moved["Input"])
        if isinstance(event, ExecutionCompletedEvent) and "Result" in moved and event.failure_details is None:
            columns["Output"] = hub.storage.blob_url(container, moved["Result"])
    # anything still too large for a column (a long termination reason, say) gets a blob of its own
    for prop in ("Input", "Output"):
        value = columns.get(prop)
        if isinstance(value, str) and utf16_size(value) > MAX_PROPERTY_UTF16_BYTES:
            row = {"PartitionKey": _pk(instance_id), "RowKey": "", prop: value}
            moved = await hub.payloads.offload_row(row)
            columns[prop] = hub.storage.blob_url(container, moved[prop])


def _pk(instance_id: str) -> str:
    from taskhub.names import escape_partition_key

    return escape_partition_key(instance_id)
