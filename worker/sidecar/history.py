"""DTFx history events <-> the protocol's ``HistoryEvent``, purely, one function per kind from a table.

Payloads are JSON text on both sides and pass unchanged; large payloads are resolved by the caller (the
history this hub loads holds them already). Failure details (inner failures, non-retriable flag), tags
and trace context are kept. ``to_proto`` raises TypeError for a kind the protocol has no message for;
``from_proto`` raises ValueError naming the message kind it does not know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskhub.format.history import (
    ContinueAsNewEvent,
    EventRaisedEvent,
    EventSentEvent,
    ExecutionCompletedEvent,
    ExecutionResumedEvent,
    ExecutionStartedEvent,
    ExecutionSuspendedEvent,
    ExecutionTerminatedEvent,
    GenericEvent,
    HistoryEvent,
    OrchestrationInstance,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
    ParentInstance,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceCreatedEvent,
    SubOrchestrationInstanceFailedEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
    TimerFiredEvent,
)
from taskhub.format.types import FailureDetails, TraceContext
from worker.sidecar.proto import (
    failure_from_proto,
    failure_to_proto,
    moment,
    pb,
    status_from_proto,
    status_to_proto,
    string_value,
    text,
    timestamp,
)

__all__ = ["to_proto", "from_proto", "trace_to_proto", "trace_from_proto"]


def trace_to_proto(trace: TraceContext | None) -> pb.TraceContext | None:
    if trace is None or not trace.trace_parent:
        return None
    return pb.TraceContext(
        traceParent=trace.trace_parent, spanID=trace.span_id or "", traceState=string_value(trace.trace_state)
    )


def trace_from_proto(message: Any, field: str) -> TraceContext | None:
    if not message.HasField(field):
        return None
    t = getattr(message, field)
    return TraceContext(
        trace_parent=t.traceParent or None,
        span_id=t.spanID or None,
        trace_state=text(t.traceState, t.HasField("traceState")),
    )


def _failure(details: FailureDetails | None, reason: str | None) -> pb.TaskFailureDetails | None:
    """The failure details, or ones made of the DTFx ``Reason`` text when a row has none."""
    if details is None and reason is not None:
        details = FailureDetails(error_type="TaskFailedException", message=reason)
    return failure_to_proto(details)


def _instance(instance: OrchestrationInstance | None) -> pb.OrchestrationInstance | None:
    if instance is None:
        return None
    return pb.OrchestrationInstance(
        instanceId=instance.instance_id or "", executionId=string_value(instance.execution_id)
    )


# -- to the protocol: one function per DTFx kind ----------------------------------------------------


def _started(e: ExecutionStartedEvent) -> dict[str, Any]:
    parent = None
    if e.parent_instance is not None:
        p = e.parent_instance
        parent = pb.ParentInstanceInfo(
            taskScheduledId=p.task_schedule_id,
            name=string_value(p.name),
            version=string_value(p.version),
            orchestrationInstance=_instance(p.orchestration_instance),
        )
    started = pb.ExecutionStartedEvent(
        name=e.name or "",
        version=string_value(e.version or None),
        input=string_value(e.input),
        orchestrationInstance=_instance(e.orchestration_instance),
        parentInstance=parent,
        scheduledStartTimestamp=timestamp(e.scheduled_start_time),
        parentTraceContext=trace_to_proto(e.parent_trace_context),
        tags=e.tags or {},
    )
    return {"executionStarted": started}


def _completed(e: ExecutionCompletedEvent) -> dict[str, Any]:
    return {
        "executionCompleted": pb.ExecutionCompletedEvent(
            orchestrationStatus=status_to_proto(e.orchestration_status),  # type: ignore[arg-type]
            result=string_value(e.result),
            failureDetails=failure_to_proto(e.failure_details),
        )
    }


_TO: dict[type[HistoryEvent], Callable[[Any], dict[str, Any]]] = {
    ExecutionStartedEvent: _started,
    ExecutionCompletedEvent: _completed,
    ExecutionTerminatedEvent: lambda e: {
        "executionTerminated": pb.ExecutionTerminatedEvent(input=string_value(e.input))
    },
    TaskScheduledEvent: lambda e: {
        "taskScheduled": pb.TaskScheduledEvent(
            name=e.name or "",
            version=string_value(e.version or None),
            input=string_value(e.input),
            parentTraceContext=trace_to_proto(e.parent_trace_context),
            tags=e.tags or {},
        )
    },
    TaskCompletedEvent: lambda e: {
        "taskCompleted": pb.TaskCompletedEvent(
            taskScheduledId=e.task_scheduled_id, result=string_value(e.result)
        )
    },
    TaskFailedEvent: lambda e: {
        "taskFailed": pb.TaskFailedEvent(
            taskScheduledId=e.task_scheduled_id, failureDetails=_failure(e.failure_details, e.reason)
        )
    },
    SubOrchestrationInstanceCreatedEvent: lambda e: {
        "subOrchestrationInstanceCreated": pb.SubOrchestrationInstanceCreatedEvent(
            instanceId=e.instance_id or "",
            name=e.name or "",
            version=string_value(e.version or None),
            input=string_value(e.input),
            tags=e.tags or {},
        )
    },
    SubOrchestrationInstanceCompletedEvent: lambda e: {
        "subOrchestrationInstanceCompleted": pb.SubOrchestrationInstanceCompletedEvent(
            taskScheduledId=e.task_scheduled_id, result=string_value(e.result)
        )
    },
    SubOrchestrationInstanceFailedEvent: lambda e: {
        "subOrchestrationInstanceFailed": pb.SubOrchestrationInstanceFailedEvent(
            taskScheduledId=e.task_scheduled_id, failureDetails=_failure(e.failure_details, e.reason)
        )
    },
    TimerCreatedEvent: lambda e: {"timerCreated": pb.TimerCreatedEvent(fireAt=timestamp(e.fire_at))},
    TimerFiredEvent: lambda e: {
        "timerFired": pb.TimerFiredEvent(fireAt=timestamp(e.fire_at), timerId=e.timer_id)
    },
    OrchestratorStartedEvent: lambda e: {"orchestratorStarted": pb.OrchestratorStartedEvent()},
    OrchestratorCompletedEvent: lambda e: {"orchestratorCompleted": pb.OrchestratorCompletedEvent()},
    EventSentEvent: lambda e: {
        "eventSent": pb.EventSentEvent(
            instanceId=e.instance_id or "", name=e.name or "", input=string_value(e.input)
        )
    },
    EventRaisedEvent: lambda e: {
        "eventRaised": pb.EventRaisedEvent(name=e.name or "", input=string_value(e.input))
    },
    ContinueAsNewEvent: lambda e: {"continueAsNew": pb.ContinueAsNewEvent(input=string_value(e.result))},
    GenericEvent: lambda e: {"genericEvent": pb.GenericEvent(data=string_value(e.data))},
    ExecutionSuspendedEvent: lambda e: {
        "executionSuspended": pb.ExecutionSuspendedEvent(input=string_value(e.reason))
    },
    ExecutionResumedEvent: lambda e: {
        "executionResumed": pb.ExecutionResumedEvent(input=string_value(e.reason))
    },
}


def to_proto(event: HistoryEvent) -> pb.HistoryEvent:
    """The protocol's ``HistoryEvent`` of a DTFx history event (same ``eventId`` and timestamp)."""
    handler = _TO.get(type(event))
    if handler is None:
        raise TypeError(f"the sidecar protocol has no history event for {type(event).__name__}")
    return pb.HistoryEvent(eventId=event.event_id, timestamp=timestamp(event.timestamp), **handler(event))


# -- from the protocol ------------------------------------------------------------------------------


def _started_from(m: pb.ExecutionStartedEvent) -> HistoryEvent:
    parent = None
    if m.HasField("parentInstance"):
        p = m.parentInstance
        parent = ParentInstance(
            name=text(p.name, p.HasField("name")),
            orchestration_instance=_instance_from(p.orchestrationInstance)
            if p.HasField("orchestrationInstance")
            else None,
            task_schedule_id=p.taskScheduledId,
            version=text(p.version, p.HasField("version")),
        )
    return ExecutionStartedEvent(
        orchestration_instance=_instance_from(m.orchestrationInstance)
        if m.HasField("orchestrationInstance")
        else None,
        parent_instance=parent,
        name=m.name,
        version=text(m.version, m.HasField("version")) or "",
        input=text(m.input, m.HasField("input")),
        tags=dict(m.tags) or None,
        parent_trace_context=trace_from_proto(m, "parentTraceContext"),
        scheduled_start_time=moment(m.scheduledStartTimestamp)
        if m.HasField("scheduledStartTimestamp")
        else None,
    )


def _instance_from(m: pb.OrchestrationInstance) -> OrchestrationInstance:
    return OrchestrationInstance(m.instanceId, text(m.executionId, m.HasField("executionId")))


def _details(m: Any) -> FailureDetails | None:
    return failure_from_proto(m.failureDetails) if m.HasField("failureDetails") else None


def _payload(m: Any, field: str) -> str | None:
    return text(getattr(m, field), m.HasField(field))


_FROM: dict[str, Callable[[Any], HistoryEvent]] = {
    "executionStarted": _started_from,
    "executionCompleted": lambda m: ExecutionCompletedEvent(
        orchestration_status=status_from_proto(m.orchestrationStatus),
        result=_payload(m, "result"),
        failure_details=_details(m),
    ),
    "executionTerminated": lambda m: ExecutionTerminatedEvent(input=_payload(m, "input")),
    "taskScheduled": lambda m: TaskScheduledEvent(
        name=m.name,
        version=_payload(m, "version") or "",
        input=_payload(m, "input"),
        parent_trace_context=trace_from_proto(m, "parentTraceContext"),
        tags=dict(m.tags) or None,
    ),
    "taskCompleted": lambda m: TaskCompletedEvent(
        task_scheduled_id=m.taskScheduledId, result=_payload(m, "result")
    ),
    "taskFailed": lambda m: TaskFailedEvent(
        task_scheduled_id=m.taskScheduledId, reason=m.failureDetails.errorMessage, failure_details=_details(m)
    ),
    "subOrchestrationInstanceCreated": lambda m: SubOrchestrationInstanceCreatedEvent(
        name=m.name,
        version=_payload(m, "version") or "",
        instance_id=m.instanceId,
        input=_payload(m, "input"),
        tags=dict(m.tags) or None,
    ),
    "subOrchestrationInstanceCompleted": lambda m: SubOrchestrationInstanceCompletedEvent(
        task_scheduled_id=m.taskScheduledId, result=_payload(m, "result")
    ),
    "subOrchestrationInstanceFailed": lambda m: SubOrchestrationInstanceFailedEvent(
        task_scheduled_id=m.taskScheduledId, reason=m.failureDetails.errorMessage, failure_details=_details(m)
    ),
    "timerCreated": lambda m: TimerCreatedEvent(fire_at=moment(m.fireAt)),
    "timerFired": lambda m: TimerFiredEvent(timer_id=m.timerId, fire_at=moment(m.fireAt)),
    "orchestratorStarted": lambda m: OrchestratorStartedEvent(),
    "orchestratorCompleted": lambda m: OrchestratorCompletedEvent(),
    "eventSent": lambda m: EventSentEvent(instance_id=m.instanceId, name=m.name, input=_payload(m, "input")),
    "eventRaised": lambda m: EventRaisedEvent(name=m.name, input=_payload(m, "input")),
    "continueAsNew": lambda m: ContinueAsNewEvent(result=_payload(m, "input")),
    "genericEvent": lambda m: GenericEvent(data=_payload(m, "data")),
    "executionSuspended": lambda m: ExecutionSuspendedEvent(reason=_payload(m, "input")),
    "executionResumed": lambda m: ExecutionResumedEvent(reason=_payload(m, "input")),
}


def from_proto(message: pb.HistoryEvent) -> HistoryEvent:
    """The DTFx history event of a protocol ``HistoryEvent``."""
    kind = message.WhichOneof("eventType")
    handler = _FROM.get(kind or "")
    if handler is None:
        raise ValueError(
            f"history event kind {kind!r} has no DTFx counterpart here; known: {', '.join(_FROM)}"
        )
    event = handler(getattr(message, kind or ""))
    event.event_id = message.eventId
    if message.HasField("timestamp"):
        event.timestamp = moment(message.timestamp)
    return event
