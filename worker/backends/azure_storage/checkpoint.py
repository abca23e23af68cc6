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
3. **Merge the Instances row** with the status, output and custom status the episode produced (a quiet
   merge, nothing but ``LastUpdatedTime`` new, may wait up to 1 s: ``worker.backends.azure_storage.instance_rows``).
4. **Delete the consumed queue messages**, in the background: they stay held (hidden) until deleted,
   and the next episode need not wait for it.

Activities that this process's checkpoint scheduled wait until it has returned (``CheckpointsInProgress``):
a crash during the checkpoint then never leaves one of them half run.

A crash between any two steps leaves the instance recoverable: the messages reappear after their
visibility timeout and the episode is replayed from the history that did commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Literal

from taskhub.errors import StorageError
from taskhub.format.history import (
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    OrchestratorStartedEvent,
    utcnow,
)
from taskhub.format.rows import MAX_PROPERTY_UTF16_BYTES, utf16_size
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.queues import Inbound
from taskhub.hub.tracking import HistoryLoad, instance_columns_for_episode
from worker.backends.azure_storage.instance_rows import InstanceRows
from worker.backends.base import CommitConflict, Committed
from worker.engine.episode import Episode, Outbound

__all__ = [
    "checkpoint",
    "CheckpointsInProgress",
    "repair_instance_row",
    "SplitBrainError",
    "CheckpointResult",
    "CheckpointStep",
    "StepObserver",
]

log = logging.getLogger(__name__)

CheckpointStep = Literal["after_outbound", "after_history", "after_instance", "before_delete"]
StepObserver = Callable[[CheckpointStep], None]

step_observer: StepObserver | None = None
"""Called at each step of every checkpoint of this process, with the step's name; None in production.
Tests install one (``tests/faults.py``) to kill a worker process in the middle of a checkpoint."""


class SplitBrainError(CommitConflict):
    """Another worker committed this instance's history first; this episode must be abandoned."""


CheckpointResult = Committed
"""What a checkpoint left: the history the next episode starts from."""


def _step(step: CheckpointStep) -> None:
    if step_observer is not None:
        step_observer(step)


class CheckpointsInProgress:
    """The checkpoints running in this process, by instance id: one object shared by the backend's
    commits and its activity loop (``settled``), passed explicitly."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Event] = {}

    @contextlib.contextmanager
    def running(self, instance_id: str) -> Iterator[None]:
        done = asyncio.Event()
        self._running[instance_id] = done
        try:
            yield
        finally:
            done.set()
            if self._running.get(instance_id) is done:
                del self._running[instance_id]

    async def settled(self, instance_id: str, timeout: float = 60.0) -> None:
        """Wait while this process is checkpointing ``instance_id`` (at most ``timeout`` s).

        The activity loop calls it before running an activity: the work item is sent in step 1, and an
        activity that ran (and crashed this process) before step 2 would leave its orchestration with no
        record of having scheduled it, so the orchestration would schedule it again and again.
        """
        done = self._running.get(instance_id)
        if done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout)


async def checkpoint(
    hub: TaskHub,
    *,
    instance_id: str,
    loaded: HistoryLoad,
    episode: Episode,
    consumed: Sequence[Inbound],
    episodes_before: int | None = None,
    rows: InstanceRows | None = None,
    in_progress: CheckpointsInProgress | None = None,
) -> CheckpointResult:
    """Commit one episode in the order of the module docstring; returns the new history state.
    ``episodes_before``: the ``OrchestratorStarted`` events in ``loaded`` when the caller knows them;
    ``rows``: the worker's Instances-row writer, which may let a quiet merge wait (``instance_rows``);
    ``in_progress``: where this process's activity loop looks before running an activity."""
    running = in_progress.running(instance_id) if in_progress is not None else contextlib.nullcontext()
    with running:
        return await _commit(
            hub,
            instance_id=instance_id,
            loaded=loaded,
            episode=episode,
            consumed=consumed,
            episodes_before=episodes_before,
            rows=rows,
        )


async def _commit(
    hub: TaskHub,
    *,
    instance_id: str,
    loaded: HistoryLoad,
    episode: Episode,
    consumed: Sequence[Inbound],
    episodes_before: int | None,
    rows: InstanceRows | None,
) -> CheckpointResult:
    restarted = episode.continued_as_new or episode.execution_id != loaded.execution_id
    past = [] if restarted else loaded.events
    execution_id = episode.new_execution_id or episode.execution_id
    full = [*past, *episode.history]
    if restarted or episodes_before is None:
        episodes_before = sum(1 for e in past if isinstance(e, OrchestratorStartedEvent))
    episode_no = episodes_before + sum(1 for e in episode.history if isinstance(e, OrchestratorStartedEvent))
    sender = OrchestrationInstance(instance_id, execution_id)

    # 1. outbound messages
    await asyncio.gather(*(_send(hub, o, sender, episode_no) for o in episode.outbound))
    _step("after_outbound")

    # 2. history, fenced by the sentinel ETag
    now = utcnow()
    etag, offloaded = await _write_history(
        hub, instance_id, execution_id, episode, len(past), loaded.etag, now
    )
    _step("after_history")

    # 3. the Instances row
    columns = instance_columns_for_episode(
        episode.history,
        execution_id=execution_id,
        custom_status=episode.custom_status,
        hub_name=hub.settings.hub_name,
        now=now,
    )
    await _large_instance_values(hub, instance_id, episode.history, offloaded, columns)
    if rows is not None:
        await rows.merge(instance_id, columns)
    else:
        await hub.tracking.merge_instance(instance_id, columns)
    _step("after_instance")

    # 4. the consumed messages, deleted off the critical path (they stay held until then). The episode
    # is committed: a message that cannot be deleted only comes back later, discarded as a duplicate.
    _step("before_delete")
    hub.queues.delete_soon(consumed, why=f"checkpoint instance_id={instance_id}")
    return CheckpointResult(etag, execution_id, full)


async def _write_history(
    hub: TaskHub,
    instance_id: str,
    execution_id: str,
    episode: Episode,
    first_sequence: int,
    etag: str | None,
    now: datetime,
) -> tuple[str | None, dict[int, dict[str, str]]]:
    """Step 2: the episode's rows under the sentinel ETag; a 409/412 is :class:`SplitBrainError`."""
    try:
        return await hub.tracking.write_history(
            instance_id, execution_id, episode.history, first_sequence=first_sequence, etag=etag, now=now
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


async def repair_instance_row(hub: TaskHub, instance_id: str, loaded: HistoryLoad) -> bool:
    """Bring the Instances row of a finished history up to date; True if it had to be written.

    A worker that died between step 2 and step 3 of the checkpoint that finished the orchestration
    left the history Completed (or Failed, Terminated) and the Instances row Running, and no later
    checkpoint will write that row: the messages that come back are discarded. So, as DTFx does before
    it discards messages for a finished instance (runtime.md 7.4), the row is written again from the
    history's last episode (status, output, times; the custom status is not in the history and stays).
    """
    completed = next((e for e in reversed(loaded.events) if isinstance(e, ExecutionCompletedEvent)), None)
    if completed is None or loaded.execution_id is None:
        return False
    row = await hub.tracking.get_instance(instance_id)
    want = OrchestrationStatus(completed.orchestration_status)
    if row is None or row.execution_id != loaded.execution_id or row.runtime_status is want:
        return False  # up to date, or the row belongs to a newer start of this id
    starts = [i for i, e in enumerate(loaded.events) if isinstance(e, OrchestratorStartedEvent)]
    last_episode = loaded.events[starts[-1] if starts else 0 :]
    columns = instance_columns_for_episode(
        last_episode,
        execution_id=loaded.execution_id,
        custom_status=None,
        hub_name=hub.settings.hub_name,
        now=completed.timestamp or utcnow(),
    )
    columns.pop("CustomStatus", None)
    await _large_instance_values(hub, instance_id, [], {}, columns)
    await hub.tracking.merge_instance(instance_id, columns)
    log.warning(
        "orchestration.instance_repaired instance_id=%s was=%s now=%s",
        instance_id,
        getattr(row.runtime_status, "value", row.runtime_status),
        want.value,
    )
    return True


async def _send(hub: TaskHub, out: Outbound, sender: OrchestrationInstance, episode_no: int) -> None:
    q = hub.queues
    if out.kind == "activity":
        md = q.envelope(out.event, out.target, sender=sender, episode=episode_no, tags=out.tags or {})
        await q.send_work_item(md, local=True)  # runs in this process if it has room (local dispatch)
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
    from taskhub.format.names import escape_partition_key

    return escape_partition_key(instance_id)
