"""The episode that fails an instance for its version, without running its code (pure; host.json
``versionFailureStrategy: Fail``, docs/research/versioning.md 3-4): ``ExecutionCompleted`` carries
FailureDetails with ErrorType ``VersionMismatch`` and a message naming both versions, and a
sub-orchestration's parent hears of it as of any failure. Admission itself is the pipeline's
(``worker.pipeline.versions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from taskhub.format.history import (
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    FailureDetails,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
    SubOrchestrationInstanceFailedEvent,
)
from taskhub.model.versioning import VERSION_MISMATCH
from worker.engine.episode import Episode
from worker.engine.outbound import FIRE_AND_FORGET_TAG, Outbound

__all__ = ["failed_episode"]


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
