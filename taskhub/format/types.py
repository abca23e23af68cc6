"""The value types that history events and queue messages carry (storage-format.md 6.1-6.3).

``EventType`` (the integer codes), ``OrchestrationStatus`` (names and integer codes), the instance and
parent references, ``FailureDetails`` and the trace context. Pure: no storage, no asyncio.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "EventType",
    "OrchestrationStatus",
    "STATUS_CODES",
    "OrchestrationInstance",
    "ParentInstance",
    "FailureDetails",
    "TraceContext",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventType(enum.IntEnum):
    """``DurableTask.Core.History.EventType``; values are what queue JSON carries."""

    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20
    ExecutionRewound = 21


class OrchestrationStatus(str, enum.Enum):
    """Runtime status of an instance; values are the DTFx names stored in tables."""

    RUNNING = "Running"
    COMPLETED = "Completed"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TERMINATED = "Terminated"
    PENDING = "Pending"
    SUSPENDED = "Suspended"

    @property
    def code(self) -> int:
        """The integer of ``DurableTask.Core.OrchestrationStatus`` (used in queue JSON)."""
        return STATUS_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> OrchestrationStatus:
        try:
            return _STATUS_BY_CODE[code]
        except KeyError:
            raise ValueError(f"{code!r} is not an OrchestrationStatus code (0..7)") from None

    @property
    def is_terminal(self) -> bool:
        return self in (
            OrchestrationStatus.COMPLETED,
            OrchestrationStatus.FAILED,
            OrchestrationStatus.TERMINATED,
            OrchestrationStatus.CANCELED,
            OrchestrationStatus.CONTINUED_AS_NEW,
        )

    def __str__(self) -> str:
        return self.value


STATUS_CODES: dict[OrchestrationStatus, int] = {
    OrchestrationStatus.RUNNING: 0,
    OrchestrationStatus.COMPLETED: 1,
    OrchestrationStatus.CONTINUED_AS_NEW: 2,
    OrchestrationStatus.FAILED: 3,
    OrchestrationStatus.CANCELED: 4,
    OrchestrationStatus.TERMINATED: 5,
    OrchestrationStatus.PENDING: 6,
    OrchestrationStatus.SUSPENDED: 7,
}
_STATUS_BY_CODE = {v: k for k, v in STATUS_CODES.items()}


# --- nested types -----------------------------------------------------------------------------------


@dataclass
class OrchestrationInstance:
    """``{InstanceId, ExecutionId}``; ``execution_id`` None means "the current execution"."""

    instance_id: str | None = None
    execution_id: str | None = None


@dataclass
class ParentInstance:
    """The parent of a sub-orchestration. ``task_schedule_id`` is spelled ``TaskScheduleId`` on the wire."""

    name: str | None = None
    orchestration_instance: OrchestrationInstance | None = None
    task_schedule_id: int = 0
    version: str | None = None


@dataclass
class FailureDetails:
    """Why a task or orchestration failed, in the ``DurableTask.Core.FailureDetails`` shape."""

    error_type: str = "None"
    message: str = ""
    stack_trace: str | None = None
    inner_failure: FailureDetails | None = None
    is_non_retriable: bool = False
    properties: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.error_type}: {self.message}"


@dataclass
class TraceContext:
    """``DistributedTraceContext`` (W3C trace context). ``activity_start_time`` is kept as text."""

    trace_parent: str | None = None
    trace_state: str | None = None
    id: str | None = None
    span_id: str | None = None
    activity_start_time: str | None = None
