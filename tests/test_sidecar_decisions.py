"""An SDK's OrchestratorResponse as this engine's ``Decisions``, and the episode the engine builds from them
(``EpisodeBuilder``, as for an in-process orchestrator), purely: decision rows, messages, completion,
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
from worker.engine.decisions import Decisions
from worker.engine.episode import Episode, EpisodeBuilder
from worker.sidecar.decisions import REUSED_ID_BASE, SDK_ID_TAG, decisions_of, to_sdk
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


def _episode(
    past: list[HistoryEvent], incoming: list[HistoryEvent], *responses: pb.OrchestratorResponse
) -> tuple[Episode, list[Decisions]]:
    """The episode the engine builds when the SDK answers ``responses``, one per execution it decides."""
    builder = EpisodeBuilder(instance_id="i1", past_events=past, incoming_events=incoming, now=NOW, new_guid=_guid)
    answers = iter(responses)
    decided: list[Decisions] = []
    while True:
        work = builder.work()
        decided.append(decisions_of("i1", work.past, work.new, next(answers)))
        if not builder.apply(decided[-1]):
            return builder.episode(), decided


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
    timer = pb.OrchestratorAction(
        id=2, createTimer=pb.CreateTimerAction(fireAt=timestamp(NOW + timedelta(minutes=5)))
    )
    sub = pb.OrchestratorAction(
        id=3, createSubOrchestration=pb.CreateSubOrchestrationAction(name="child", input=string_value("2"))
    )
    episode, _ = _episode([], [START], _response(_task(1), timer, sub, custom='"busy"'))
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
    episode, _ = _episode([], [START], _response(_complete(1, pb.ORCHESTRATION_STATUS_COMPLETED, '"ok"')))
    assert episode.runtime_status is OrchestrationStatus.COMPLETED and episode.output == '"ok"'
    assert episode.history[-2].event_id == 1

    details = pb.TaskFailureDetails(errorType="ValueError", errorMessage="nope")
    failed, _ = _episode(
        [], [START], _response(_complete(1, pb.ORCHESTRATION_STATUS_FAILED, failureDetails=details))
    )
    assert failed.runtime_status is OrchestrationStatus.FAILED
    assert failed.failure_details is not None and failed.failure_details.message == "nope"

    rewind = pb.OrchestratorAction(id=1, rewindOrchestration=pb.RewindOrchestrationAction())
    bad, _ = _episode([], [START], _response(rewind))
    assert bad.runtime_status is OrchestrationStatus.FAILED
    assert bad.failure_details is not None and "rewindOrchestration" in bad.failure_details.message


def test_continue_as_new_starts_the_next_execution_with_carried_events() -> None:
    carried = pb.HistoryEvent(eventId=-1, eventRaised=pb.EventRaisedEvent(name="go", input=string_value("7")))
    episode, decided = _episode(
        [],
        [START],
        _response(
            _task(1), _complete(2, pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW, "5", carryoverEvents=[carried])
        ),
        _response(),  # the new execution, asked at once: it waits for nothing new
    )
    assert len(decided) == 2 and episode.continued_as_new
    assert episode.outbound == []  # the old execution's activity is dropped, as in DTFx
    first = episode.history[:3]
    assert [type(e) for e in first] == [OrchestratorStartedEvent, ExecutionStartedEvent, EventRaisedEvent]
    started = first[1]
    assert isinstance(started, ExecutionStartedEvent) and started.input == "5"
    assert started.orchestration_instance == OrchestrationInstance("i1", "f" * 32)
    assert episode.runtime_status is OrchestrationStatus.RUNNING


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
    episode, _ = _episode(past, [], _response(_task(1)))  # the retry, under the first attempt's id
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
