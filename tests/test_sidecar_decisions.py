"""An SDK's OrchestratorResponse as this engine's episode, purely: decision rows, messages, completion,
continue-as-new, failures of bad actions, and action ids an SDK reuses (durabletask-python retries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from taskhub.format.history import (
    EventRaisedEvent,
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
    TaskFailedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
    TimerFiredEvent,
)
from worker.sidecar.decisions import (
    REUSED_ID_BASE,
    SDK_ID_TAG,
    admit,
    episode_of,
    next_execution,
    round_of,
    to_sdk,
)
from worker.sidecar.proto import pb, string_value, timestamp

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
START = ExecutionStartedEvent(
    orchestration_instance=OrchestrationInstance("i1", "e1"),
    name="orch",
    version="",
    input="1",
    timestamp=NOW,
)


def _guid() -> str:
    return "f" * 32


def _response(*actions: pb.OrchestratorAction, custom: str | None = None) -> pb.OrchestratorResponse:
    return pb.OrchestratorResponse(instanceId="i1", actions=actions, customStatus=string_value(custom))


def _task(i: int, name: str = "act", input: str = '"x"') -> pb.OrchestratorAction:
    return pb.OrchestratorAction(
        id=i, scheduleTask=pb.ScheduleTaskAction(name=name, input=string_value(input))
    )


def _complete(i: int, status: int, result: str | None = None, **kw: object) -> pb.OrchestratorAction:
    return pb.OrchestratorAction(
        id=i,
        completeOrchestration=pb.CompleteOrchestrationAction(
            orchestrationStatus=status, result=string_value(result), **kw
        ),
    )


def test_new_actions_become_decision_rows_and_messages() -> None:
    new, discarded = admit([], [START], NOW)
    timer = pb.OrchestratorAction(
        id=2, createTimer=pb.CreateTimerAction(fireAt=timestamp(NOW + timedelta(minutes=5)))
    )
    sub = pb.OrchestratorAction(
        id=3, createSubOrchestration=pb.CreateSubOrchestrationAction(name="child", input=string_value("2"))
    )
    r = round_of("i1", [], new, _response(_task(1), timer, sub, custom='"busy"'))
    episode = episode_of("i1", new, r, now=NOW, new_guid=_guid, discarded=discarded)
    kinds = [type(e).__name__ for e in episode.history]
    assert kinds == [
        "OrchestratorStartedEvent",
        "ExecutionStartedEvent",
        "TaskScheduledEvent",
        "TimerCreatedEvent",
        "SubOrchestrationInstanceCreatedEvent",
        "OrchestratorCompletedEvent",
    ]
    assert [e.event_id for e in episode.history[2:5]] == [1, 2, 3]
    assert episode.runtime_status is OrchestrationStatus.RUNNING and episode.custom_status == '"busy"'
    assert [(m.kind, m.target.instance_id) for m in episode.outbound] == [
        ("activity", "i1"),
        ("timer", "i1"),
        ("orchestrator", "e1:3"),  # no instance id given: <execution id>:<action id>
    ]
    assert episode.outbound[1].visible_at == NOW + timedelta(minutes=5)


def test_completion_failure_and_a_bad_action() -> None:
    new, _ = admit([], [START], NOW)
    done = round_of("i1", [], new, _response(_complete(1, pb.ORCHESTRATION_STATUS_COMPLETED, '"ok"')))
    episode = episode_of("i1", new, done, now=NOW, new_guid=_guid)
    assert episode.runtime_status is OrchestrationStatus.COMPLETED and episode.output == '"ok"'
    assert episode.history[-2].event_id == 1

    details = pb.TaskFailureDetails(errorType="ValueError", errorMessage="nope")
    failed = round_of(
        "i1", [], new, _response(_complete(1, pb.ORCHESTRATION_STATUS_FAILED, failureDetails=details))
    )
    assert failed.result.completion is not None and failed.result.completion.failure_details is not None
    assert failed.result.completion.failure_details.message == "nope"

    rewind = pb.OrchestratorAction(id=1, rewindOrchestration=pb.RewindOrchestrationAction())
    bad = round_of("i1", [], new, _response(rewind))
    assert bad.result.completion is not None and bad.result.completion.status is OrchestrationStatus.FAILED
    details_ = bad.result.completion.failure_details
    assert details_ is not None and "rewindOrchestration" in details_.message


def test_continue_as_new_starts_the_next_execution_with_carried_events() -> None:
    new, _ = admit([], [START], NOW)
    carried = pb.HistoryEvent(eventId=-1, eventRaised=pb.EventRaisedEvent(name="go", input=string_value("7")))
    r = round_of(
        "i1",
        [],
        new,
        _response(
            _task(1), _complete(2, pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW, "5", carryoverEvents=[carried])
        ),
    )
    old, first = next_execution("i1", r, NOW, _guid)
    assert old == []  # the old execution's activity is dropped, as in DTFx
    assert [type(e) for e in first] == [OrchestratorStartedEvent, ExecutionStartedEvent, EventRaisedEvent]
    started = first[1]
    assert isinstance(started, ExecutionStartedEvent) and started.input == "5"
    assert started.orchestration_instance == OrchestrationInstance("i1", "f" * 32)


def test_a_reused_action_id_gets_a_free_event_id_and_the_sdk_sees_its_own() -> None:
    past: list[HistoryEvent] = [
        OrchestratorStartedEvent(timestamp=NOW),
        START,
        TaskScheduledEvent(event_id=1, name="act", version="", input='"x"', timestamp=NOW),
        OrchestratorCompletedEvent(timestamp=NOW),
        TaskFailedEvent(task_scheduled_id=1, reason="boom", timestamp=NOW),
        TimerCreatedEvent(event_id=2, fire_at=NOW, timestamp=NOW),
        TimerFiredEvent(timer_id=2, fire_at=NOW, timestamp=NOW),
    ]
    new, _ = admit(past, [], NOW)
    r = round_of("i1", past, new, _response(_task(1)))  # the retry, under the first attempt's id
    episode = episode_of("i1", new, r, now=NOW, new_guid=_guid)
    retry = episode.history[1]
    assert isinstance(retry, TaskScheduledEvent) and retry.event_id == REUSED_ID_BASE
    assert retry.tags == {SDK_ID_TAG: "1"}
    assert episode.outbound[0].event.event_id == REUSED_ID_BASE
    failed_again = TaskFailedEvent(task_scheduled_id=REUSED_ID_BASE, reason="boom", timestamp=NOW)
    shown = to_sdk([*past, *episode.history, failed_again])
    ids = [(m.WhichOneof("eventType"), m.eventId) for m in shown if m.HasField("taskScheduled")]
    assert ids == [("taskScheduled", 1), ("taskScheduled", 1)]
    assert shown[-1].taskFailed.taskScheduledId == 1
    assert dict(shown[len(past) + 1].taskScheduled.tags) == {}
