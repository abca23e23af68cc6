"""History events of DurableTask.Core, as Python dataclasses (storage-format.md section 6).

The value types they carry (``EventType``, ``OrchestrationStatus``, ``FailureDetails``, ...) are in
:mod:`taskhub.format.types` and re-exported here.

Each event class declares ``WIRE``: its members in .NET serialization order, each as
``(attribute, wire name, kind)``. The queue-message codec (:mod:`taskhub.format.messages`) and the table-row
codec (:mod:`taskhub.format.rows`) both walk this one schema, so a member is described once.

Kinds (how a member is encoded):

==============  ============================  ==================================================
kind            queue JSON                    History table column
==============  ============================  ==================================================
``str``         string or null                Edm.String, absent when None
``int``         number (or null)              Edm.Int32, absent when None
``bool``        true/false                    Edm.Boolean
``datetime``    .NET ISO text, ``Z``          Edm.DateTime, absent when None
``event_type``  integer                       the enum name (``"TaskScheduled"``)
``status``      integer                       the enum name (``"Completed"``)
``instance``    object with ``$type``         JSON text without ``$type``; ``"null"`` for None
``parent``      object with ``$type``         JSON text, ``"null"``
``failure``     object with ``$type``         JSON text, ``"null"``
``trace``       object with ``$type``         JSON text, ``"null"``
``tags``        object (no ``$type`` written) JSON text, ``"null"``
``json``        any JSON value                JSON text, ``"null"``
==============  ============================  ==================================================

Payload members (``Input``, ``Result``, ``Data``, ...) are ``str``: they already hold JSON *text*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from taskhub.format.types import (
    STATUS_CODES,
    EventType,
    FailureDetails,
    OrchestrationInstance,
    OrchestrationStatus,
    ParentInstance,
    TraceContext,
    utcnow,
)

__all__ = [
    "EventType",
    "OrchestrationStatus",
    "STATUS_CODES",
    "OrchestrationInstance",
    "ParentInstance",
    "FailureDetails",
    "TraceContext",
    "HistoryEvent",
    "ExecutionStartedEvent",
    "ExecutionCompletedEvent",
    "ExecutionTerminatedEvent",
    "TaskScheduledEvent",
    "TaskCompletedEvent",
    "TaskFailedEvent",
    "SubOrchestrationInstanceCreatedEvent",
    "SubOrchestrationInstanceCompletedEvent",
    "SubOrchestrationInstanceFailedEvent",
    "TimerCreatedEvent",
    "TimerFiredEvent",
    "OrchestratorStartedEvent",
    "OrchestratorCompletedEvent",
    "EventSentEvent",
    "EventRaisedEvent",
    "ContinueAsNewEvent",
    "GenericEvent",
    "HistoryStateEvent",
    "ExecutionSuspendedEvent",
    "ExecutionResumedEvent",
    "ExecutionRewoundEvent",
    "EVENT_CLASSES",
    "event_class",
    "utcnow",
]


# --- events -------------------------------------------------------------------------------------------

Wire = tuple[tuple[str, str, str], ...]

_BASE_WIRE: Wire = (
    ("event_id", "EventId", "int"),
    ("is_played", "IsPlayed", "bool"),
    ("timestamp", "Timestamp", "datetime"),
)
_ET = ("event_type", "EventType", "event_type")


@dataclass(kw_only=True)
class HistoryEvent:
    """Base of all history events: ``EventId`` (action id, or -1), ``IsPlayed``, ``Timestamp`` (UTC)."""

    EVENT_TYPE: ClassVar[EventType]
    WIRE: ClassVar[Wire]
    """Members in .NET JSON order, base members last (EventType included, at its position)."""

    event_id: int = -1
    is_played: bool = False
    timestamp: datetime = field(default_factory=utcnow)

    @property
    def event_type(self) -> EventType:
        return self.EVENT_TYPE

    @classmethod
    def dotnet_type(cls) -> str:
        return f"DurableTask.Core.History.{cls.__name__}"


def _wire(*members: tuple[str, str, str], leading: tuple[tuple[str, str, str], ...] = ()) -> Wire:
    return (*leading, _ET, *members, *_BASE_WIRE)


@dataclass(kw_only=True)
class ExecutionStartedEvent(HistoryEvent):
    EVENT_TYPE = EventType.ExecutionStarted
    WIRE = _wire(
        ("parent_instance", "ParentInstance", "parent"),
        ("name", "Name", "str"),
        ("version", "Version", "str"),
        ("input", "Input", "str"),
        ("tags", "Tags", "tags"),
        ("correlation", "Correlation", "str"),
        ("parent_trace_context", "ParentTraceContext", "trace"),
        ("scheduled_start_time", "ScheduledStartTime", "datetime"),
        ("generation", "Generation", "int"),
        ("generate_new_trace", "GenerateNewTrace", "bool"),
        leading=(("orchestration_instance", "OrchestrationInstance", "instance"),),
    )
    orchestration_instance: OrchestrationInstance | None = None
    parent_instance: ParentInstance | None = None
    name: str | None = None
    version: str | None = None
    input: str | None = None
    tags: dict[str, str] | None = None
    correlation: str | None = None
    parent_trace_context: TraceContext | None = None
    scheduled_start_time: datetime | None = None
    generation: int | None = 0
    generate_new_trace: bool = False


_COMPLETED_WIRE = (
    ("orchestration_status", "OrchestrationStatus", "status"),
    ("result", "Result", "str"),
    ("failure_details", "FailureDetails", "failure"),
)


@dataclass(kw_only=True)
class ExecutionCompletedEvent(HistoryEvent):
    EVENT_TYPE = EventType.ExecutionCompleted
    WIRE = _wire(*_COMPLETED_WIRE)
    orchestration_status: OrchestrationStatus = OrchestrationStatus.COMPLETED
    result: str | None = None
    failure_details: FailureDetails | None = None


@dataclass(kw_only=True)
class ExecutionTerminatedEvent(HistoryEvent):
    EVENT_TYPE = EventType.ExecutionTerminated
    WIRE = _wire(("input", "Input", "str"))
    input: str | None = None


@dataclass(kw_only=True)
class TaskScheduledEvent(HistoryEvent):
    EVENT_TYPE = EventType.TaskScheduled
    WIRE = _wire(
        ("name", "Name", "str"),
        ("version", "Version", "str"),
        ("input", "Input", "str"),
        ("parent_trace_context", "ParentTraceContext", "trace"),
        ("tags", "Tags", "tags"),
    )
    name: str | None = None
    version: str | None = None
    input: str | None = None
    parent_trace_context: TraceContext | None = None
    tags: dict[str, str] | None = None


@dataclass(kw_only=True)
class TaskCompletedEvent(HistoryEvent):
    EVENT_TYPE = EventType.TaskCompleted
    WIRE = _wire(("task_scheduled_id", "TaskScheduledId", "int"), ("result", "Result", "str"))
    task_scheduled_id: int = 0
    result: str | None = None


_FAILED_WIRE = (
    ("task_scheduled_id", "TaskScheduledId", "int"),
    ("reason", "Reason", "str"),
    ("details", "Details", "str"),
    ("failure_details", "FailureDetails", "failure"),
)


@dataclass(kw_only=True)
class TaskFailedEvent(HistoryEvent):
    EVENT_TYPE = EventType.TaskFailed
    WIRE = _wire(*_FAILED_WIRE)
    task_scheduled_id: int = 0
    reason: str | None = None
    details: str | None = None
    failure_details: FailureDetails | None = None


@dataclass(kw_only=True)
class SubOrchestrationInstanceCreatedEvent(HistoryEvent):
    EVENT_TYPE = EventType.SubOrchestrationInstanceCreated
    WIRE = _wire(
        ("name", "Name", "str"),
        ("version", "Version", "str"),
        ("instance_id", "InstanceId", "str"),
        ("input", "Input", "str"),
        ("client_span_id", "ClientSpanId", "str"),
        ("tags", "Tags", "tags"),
    )
    name: str | None = None
    version: str | None = None
    instance_id: str | None = None
    input: str | None = None
    client_span_id: str | None = None
    tags: dict[str, str] | None = None


@dataclass(kw_only=True)
class SubOrchestrationInstanceCompletedEvent(HistoryEvent):
    EVENT_TYPE = EventType.SubOrchestrationInstanceCompleted
    WIRE = _wire(("task_scheduled_id", "TaskScheduledId", "int"), ("result", "Result", "str"))
    task_scheduled_id: int = 0
    result: str | None = None


@dataclass(kw_only=True)
class SubOrchestrationInstanceFailedEvent(HistoryEvent):
    EVENT_TYPE = EventType.SubOrchestrationInstanceFailed
    WIRE = _wire(*_FAILED_WIRE)
    task_scheduled_id: int = 0
    reason: str | None = None
    details: str | None = None
    failure_details: FailureDetails | None = None


@dataclass(kw_only=True)
class TimerCreatedEvent(HistoryEvent):
    EVENT_TYPE = EventType.TimerCreated
    WIRE = _wire(("fire_at", "FireAt", "datetime"))
    fire_at: datetime | None = None


@dataclass(kw_only=True)
class TimerFiredEvent(HistoryEvent):
    EVENT_TYPE = EventType.TimerFired
    WIRE = _wire(("timer_id", "TimerId", "int"), ("fire_at", "FireAt", "datetime"))
    timer_id: int = 0
    fire_at: datetime | None = None


@dataclass(kw_only=True)
class OrchestratorStartedEvent(HistoryEvent):
    EVENT_TYPE = EventType.OrchestratorStarted
    WIRE = _wire()


@dataclass(kw_only=True)
class OrchestratorCompletedEvent(HistoryEvent):
    EVENT_TYPE = EventType.OrchestratorCompleted
    WIRE = _wire()


@dataclass(kw_only=True)
class EventSentEvent(HistoryEvent):
    EVENT_TYPE = EventType.EventSent
    WIRE = _wire(("instance_id", "InstanceId", "str"), ("name", "Name", "str"), ("input", "Input", "str"))
    instance_id: str | None = None
    name: str | None = None
    input: str | None = None


@dataclass(kw_only=True)
class EventRaisedEvent(HistoryEvent):
    EVENT_TYPE = EventType.EventRaised
    WIRE = _wire(
        ("name", "Name", "str"),
        ("input", "Input", "str"),
        ("parent_trace_context", "ParentTraceContext", "trace"),
    )
    name: str | None = None
    input: str | None = None
    parent_trace_context: TraceContext | None = None


@dataclass(kw_only=True)
class ContinueAsNewEvent(HistoryEvent):
    EVENT_TYPE = EventType.ContinueAsNew
    WIRE = _wire(*_COMPLETED_WIRE)
    orchestration_status: OrchestrationStatus = OrchestrationStatus.CONTINUED_AS_NEW
    result: str | None = None
    failure_details: FailureDetails | None = None


@dataclass(kw_only=True)
class GenericEvent(HistoryEvent):
    EVENT_TYPE = EventType.GenericEvent
    WIRE = _wire(leading=(("data", "Data", "str"),))
    data: str | None = None


@dataclass(kw_only=True)
class HistoryStateEvent(HistoryEvent):
    EVENT_TYPE = EventType.HistoryState
    WIRE = _wire(("state", "State", "json"))
    state: Any = None


@dataclass(kw_only=True)
class ExecutionSuspendedEvent(HistoryEvent):
    EVENT_TYPE = EventType.ExecutionSuspended
    WIRE = _wire(("reason", "Reason", "str"))
    reason: str | None = None


@dataclass(kw_only=True)
class ExecutionResumedEvent(HistoryEvent):
    EVENT_TYPE = EventType.ExecutionResumed
    WIRE = _wire(("reason", "Reason", "str"))
    reason: str | None = None


@dataclass(kw_only=True)
class ExecutionRewoundEvent(HistoryEvent):
    EVENT_TYPE = EventType.ExecutionRewound
    WIRE = _wire(
        ("reason", "Reason", "str"),
        ("parent_execution_id", "ParentExecutionId", "str"),
        ("instance_id", "InstanceId", "str"),
        ("parent_trace_context", "ParentTraceContext", "trace"),
    )
    reason: str | None = None
    parent_execution_id: str | None = None
    instance_id: str | None = None
    parent_trace_context: TraceContext | None = None


EVENT_CLASSES: dict[EventType, type[HistoryEvent]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        ExecutionStartedEvent,
        ExecutionCompletedEvent,
        ExecutionTerminatedEvent,
        TaskScheduledEvent,
        TaskCompletedEvent,
        TaskFailedEvent,
        SubOrchestrationInstanceCreatedEvent,
        SubOrchestrationInstanceCompletedEvent,
        SubOrchestrationInstanceFailedEvent,
        TimerCreatedEvent,
        TimerFiredEvent,
        OrchestratorStartedEvent,
        OrchestratorCompletedEvent,
        EventSentEvent,
        EventRaisedEvent,
        ContinueAsNewEvent,
        GenericEvent,
        HistoryStateEvent,
        ExecutionSuspendedEvent,
        ExecutionResumedEvent,
        ExecutionRewoundEvent,
    )
}
_BY_DOTNET_NAME = {cls.dotnet_type(): cls for cls in EVENT_CLASSES.values()}


def event_class(event_type: EventType | int | str) -> type[HistoryEvent]:
    """The class for an EventType given as enum, integer, name, or .NET ``$type`` name."""
    try:
        if isinstance(event_type, str):
            if event_type in _BY_DOTNET_NAME:
                return _BY_DOTNET_NAME[event_type]
            return EVENT_CLASSES[EventType[event_type]]
        return EVENT_CLASSES[EventType(event_type)]
    except (KeyError, ValueError):
        raise ValueError(
            f"unknown history event type {event_type!r}; known: " + ", ".join(e.name for e in EVENT_CLASSES)
        ) from None
