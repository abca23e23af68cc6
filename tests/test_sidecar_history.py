"""DTFx history <-> the sidecar protocol's HistoryEvent, purely: every kind both ways, with failure
details, tags and trace context kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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
    HistoryStateEvent,
    OrchestrationInstance,
    OrchestrationStatus,
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
from worker.sidecar.history import from_proto, to_proto
from worker.sidecar.proto import pb

T = datetime(2026, 12, 7, 8, 30, 15, 123456, tzinfo=UTC)
TRACE = TraceContext(
    trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    span_id="b7ad6b7169203331",
    trace_state="k=v",
)
FAILURE = FailureDetails(
    error_type="ValueError",
    message="bad",
    stack_trace="line 1",
    inner_failure=FailureDetails(error_type="KeyError", message="inner"),
    is_non_retriable=True,
)

EVENTS: list[HistoryEvent] = [
    ExecutionStartedEvent(
        event_id=-1,
        orchestration_instance=OrchestrationInstance("i1", "e1"),
        parent_instance=ParentInstance("parent", OrchestrationInstance("p1", "pe1"), 4, "1.0"),
        name="orch",
        version="2.0",
        input='{"a":1}',
        tags={"team": "blue"},
        parent_trace_context=TRACE,
        scheduled_start_time=T,
        timestamp=T,
    ),
    ExecutionCompletedEvent(
        event_id=9,
        orchestration_status=OrchestrationStatus.FAILED,
        result=None,
        failure_details=FAILURE,
        timestamp=T,
    ),
    ExecutionTerminatedEvent(input='"stop"', timestamp=T),
    TaskScheduledEvent(
        event_id=1,
        name="act",
        version="",
        input="[1,2]",
        tags={"x": "y"},
        parent_trace_context=TRACE,
        timestamp=T,
    ),
    TaskCompletedEvent(task_scheduled_id=1, result='"ok"', timestamp=T),
    TaskFailedEvent(task_scheduled_id=1, reason="bad", failure_details=FAILURE, timestamp=T),
    SubOrchestrationInstanceCreatedEvent(
        event_id=2, name="child", version="", instance_id="c1", input="3", tags={"k": "v"}, timestamp=T
    ),
    SubOrchestrationInstanceCompletedEvent(task_scheduled_id=2, result="4", timestamp=T),
    SubOrchestrationInstanceFailedEvent(
        task_scheduled_id=2, reason="bad", failure_details=FAILURE, timestamp=T
    ),
    TimerCreatedEvent(event_id=3, fire_at=T, timestamp=T),
    TimerFiredEvent(timer_id=3, fire_at=T, timestamp=T),
    OrchestratorStartedEvent(timestamp=T),
    OrchestratorCompletedEvent(timestamp=T),
    EventSentEvent(event_id=5, instance_id="other", name="ping", input="null", timestamp=T),
    EventRaisedEvent(name="approval", input="true", timestamp=T),
    ContinueAsNewEvent(result='"next"', timestamp=T),
    GenericEvent(data="note", timestamp=T),
    ExecutionSuspendedEvent(reason="wait", timestamp=T),
    ExecutionResumedEvent(reason="go", timestamp=T),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_kind_goes_there_and_back_unchanged(event: HistoryEvent) -> None:
    message = to_proto(event)
    assert message.eventId == event.event_id
    assert message.timestamp.ToDatetime(tzinfo=UTC) == T
    assert from_proto(pb.HistoryEvent.FromString(message.SerializeToString())) == event


def test_the_protocol_fields_are_the_ones_the_sdk_reads() -> None:
    started = to_proto(EVENTS[0]).executionStarted
    assert (started.name, started.version.value, started.input.value) == ("orch", "2.0", '{"a":1}')
    assert (
        started.orchestrationInstance.instanceId == "i1"
        and started.orchestrationInstance.executionId.value == "e1"
    )
    assert (
        started.parentInstance.taskScheduledId == 4
        and started.parentInstance.orchestrationInstance.instanceId == "p1"
    )
    assert started.parentTraceContext.traceParent == TRACE.trace_parent and dict(started.tags) == {
        "team": "blue"
    }
    failed = to_proto(EVENTS[5]).taskFailed
    assert failed.taskScheduledId == 1 and failed.failureDetails.errorType == "ValueError"
    assert failed.failureDetails.innerFailure.errorMessage == "inner" and failed.failureDetails.isNonRetriable
    assert to_proto(EVENTS[10]).timerFired.timerId == 3


def test_a_failure_without_details_gets_them_from_the_reason() -> None:
    row = TaskFailedEvent(task_scheduled_id=7, reason="it broke", timestamp=T)
    details = to_proto(row).taskFailed.failureDetails
    assert (details.errorType, details.errorMessage) == ("TaskFailedException", "it broke")


def test_kinds_without_a_counterpart_say_so() -> None:
    with pytest.raises(TypeError, match="HistoryStateEvent"):
        to_proto(HistoryStateEvent(timestamp=T))
    with pytest.raises(ValueError, match="entityLockGranted"):
        from_proto(
            pb.HistoryEvent(eventId=1, entityLockGranted=pb.EntityLockGrantedEvent(criticalSectionId="x"))
        )
