"""Worker versioning where a work item is admitted (host.json ``defaultVersion``, ``versionMatchStrategy``,
``versionFailureStrategy``; docs/research/versioning.md 3-4).

The check runs on every orchestration work item (the messages of one instance from a control-queue
batch) before any orchestrator code runs, against the instance's version: the running execution's
``ExecutionStarted.Version``, or that of the start message in the batch. A work item that runs no code
(an instance that does not exist or has finished) is not checked.

- **Reject** (:func:`reject`): the messages go back to the queue, hidden for 2^DequeueCount seconds (at
  most 600), as DTFx abandons them; nothing is written. Rejections do not count toward
  ``poisonMessageThreshold``: a message whose next dequeue would pass it is put back as a fresh copy
  (dequeue count 0) and the old one deleted. The session ends at once, so the partition's other
  instances go on.
- **Fail** (:func:`failed_episode`): the instance fails without running its code; ``ExecutionCompleted``
  carries FailureDetails with ErrorType ``VersionMismatch`` and a message naming both versions, and a
  sub-orchestration's parent hears of it as of any failure.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from taskhub.format.history import (
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    FailureDetails,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
    SubOrchestrationInstanceFailedEvent,
    utcnow,
)
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.queues import Inbound, abandon_delay
from taskhub.model.versioning import VERSION_MISMATCH
from worker.episode import FIRE_AND_FORGET_TAG, Episode, Outbound

__all__ = ["failed_episode", "reject", "work_item_version"]

log = logging.getLogger(__name__)


def work_item_version(
    started: ExecutionStartedEvent | None, terminal: bool, messages: Sequence[Inbound]
) -> str | None:
    """The version a work item is checked against (``""`` when the instance has none), or ``None`` when
    it would run no orchestrator code (no running execution and no start message)."""
    if started is not None and not terminal:
        return started.version or ""
    start = next((m.event for m in messages if isinstance(m.event, ExecutionStartedEvent)), None)
    return (start.version or "") if start is not None else None


async def reject(hub: TaskHub, instance_id: str, messages: Sequence[Inbound], reason: str) -> None:
    """Leave the work item for another worker (see the module docstring)."""
    threshold = hub.settings.storage.poison_message_threshold
    for m in messages:
        delay = abandon_delay(m.raw.dequeue_count)
        if m.raw.dequeue_count + 1 > threshold and m.data is not None:  # renew it, or it would turn poison
            await hub.queues.send(m.raw.queue, m.data, visible_at=utcnow() + timedelta(seconds=delay))
            await hub.queues.delete(m)
        else:
            await hub.queues.abandon(m, delay=delay)
    log.info(
        "orchestration.version_rejected instance_id=%s messages=%d dequeue_count=%d reason=%s",
        instance_id,
        len(messages),
        max((m.raw.dequeue_count for m in messages), default=0),
        reason,
    )


def failed_episode(
    instance_id: str,
    past_events: Sequence[HistoryEvent],
    incoming_events: Sequence[HistoryEvent],
    reason: str,
    now: datetime,
) -> Episode:
    """The episode that fails the instance for its version, without running its code (pure)."""
    new = [OrchestratorStartedEvent(timestamp=now), *(replace(e, is_played=True) for e in incoming_events)]
    started = next(e for e in (*past_events, *new) if isinstance(e, ExecutionStartedEvent))
    details = FailureDetails(error_type=VERSION_MISMATCH, message=reason, is_non_retriable=True)
    completed = ExecutionCompletedEvent(
        event_id=len(past_events),  # DTFx: the number of past events
        orchestration_status=OrchestrationStatus.FAILED,
        failure_details=details,
        timestamp=now,
    )
    execution_id = (
        started.orchestration_instance.execution_id if started.orchestration_instance else ""
    ) or ""
    outbound: list[Outbound] = []
    parent = started.parent_instance
    tags = started.tags or {}
    if parent is not None and parent.orchestration_instance is not None and FIRE_AND_FORGET_TAG not in tags:
        notice = SubOrchestrationInstanceFailedEvent(
            task_scheduled_id=parent.task_schedule_id, reason=reason, failure_details=details, timestamp=now
        )
        outbound.append(Outbound("orchestrator", parent.orchestration_instance, notice))
    return Episode(
        instance_id=instance_id,
        execution_id=execution_id,
        started=started,
        history=[*new, completed, OrchestratorCompletedEvent(timestamp=now)],
        outbound=outbound,
        runtime_status=OrchestrationStatus.FAILED,
        failure_details=details,
    )
