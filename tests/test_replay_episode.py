"""run_episode: history rows in storage-format 9.1 order and the outbound messages of 3.9."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from taskhub.format.history import (
    EventRaisedEvent,
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
    TaskCompletedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
    TimerFiredEvent,
)
from taskhub.model.app import App
from tests.builders import Driver, at, event_raised, guids, started, task_completed
from worker.engine.episode import run_episode

app = App()


@app.orchestrator
def hello(ctx: Any, city: str) -> Any:
    return (yield ctx.call_activity("SayHello", input=city))


@app.orchestrator
def busy(ctx: Any, _: Any) -> Any:
    ctx.call_activity("work", input=1)
    ctx.create_timer(timedelta(hours=1))
    ctx.send_event("other", "Ping", data="hi")
    yield ctx.wait_for_external_event("never")


def rows(history: list[Any]) -> list[tuple[str, int, bool]]:
    return [(type(e).__name__.removesuffix("Event"), e.event_id, e.is_played) for e in history]


def test_one_activity_orchestration_matches_storage_format_9_1() -> None:
    driver = Driver(app)
    first = driver.start("hello", "Tokyo", now=at(0))

    assert rows(first.history) == [
        ("OrchestratorStarted", -1, False),
        ("ExecutionStarted", -1, True),
        ("TaskScheduled", 0, False),
        ("OrchestratorCompleted", -1, False),
    ]
    scheduled = first.history[2]
    assert isinstance(scheduled, TaskScheduledEvent)
    assert (scheduled.name, scheduled.version, scheduled.input) == ("SayHello", "", '"Tokyo"')
    assert all(e.timestamp == at(0) for e in first.history)
    assert first.runtime_status is OrchestrationStatus.RUNNING
    assert first.execution_id == "e1" and first.started.name == "hello"

    second = driver.run(task_completed(0, "Hello Tokyo!"), now=at(1.5))
    assert rows(second.history) == [
        ("OrchestratorStarted", -1, False),
        ("TaskCompleted", -1, True),
        ("ExecutionCompleted", 1, False),
        ("OrchestratorCompleted", -1, False),
    ]
    completed = second.history[2]
    assert isinstance(completed, ExecutionCompletedEvent)
    assert completed.orchestration_status is OrchestrationStatus.COMPLETED
    assert completed.result == '"Hello Tokyo!"' and completed.failure_details is None
    assert second.runtime_status is OrchestrationStatus.COMPLETED
    assert second.output == '"Hello Tokyo!"'
    assert second.history[0].timestamp == at(1.5)
    assert isinstance(second.history[1], TaskCompletedEvent)


def test_activity_message_goes_to_the_work_item_queue_as_task_scheduled() -> None:
    episode = Driver(app).start("hello", "Tokyo", tags={"env": "test"})

    [message] = episode.outbound
    assert message.kind == "activity"
    assert message.target == OrchestrationInstance("inst1", "e1")
    assert isinstance(message.event, TaskScheduledEvent)
    assert (message.event.event_id, message.event.name, message.event.input) == (0, "SayHello", '"Tokyo"')
    assert message.visible_at is None
    assert message.tags == {"env": "test"}


def test_timer_and_event_messages() -> None:
    episode = Driver(app).start("busy", now=at(0))

    assert [(o.kind, o.target, type(o.event)) for o in episode.outbound] == [
        ("activity", OrchestrationInstance("inst1", "e1"), TaskScheduledEvent),
        ("timer", OrchestrationInstance("inst1", "e1"), TimerFiredEvent),
        ("orchestrator", OrchestrationInstance("other", None), EventRaisedEvent),
    ]
    timer = episode.outbound[1]
    assert isinstance(timer.event, TimerFiredEvent)
    assert (timer.event.event_id, timer.event.timer_id, timer.event.fire_at) == (-1, 1, at(hours=1))
    assert timer.visible_at == at(hours=1)
    raised = episode.outbound[2].event
    assert isinstance(raised, EventRaisedEvent)
    assert (raised.event_id, raised.name, raised.input) == (-1, "Ping", '"hi"')
    assert rows(episode.history)[2:5] == [
        ("TaskScheduled", 0, False),
        ("TimerCreated", 1, False),
        ("EventSent", 2, False),
    ]
    created = episode.history[3]
    assert isinstance(created, TimerCreatedEvent) and created.fire_at == at(hours=1)


def test_duplicate_execution_started_is_discarded_with_a_reason() -> None:
    driver = Driver(app)
    driver.start("hello", "Tokyo")
    duplicate = started("hello", "Tokyo")
    episode = driver.run(duplicate, task_completed(0, "hi"), now=at(1))

    assert episode.discarded == [
        (duplicate, "duplicate ExecutionStarted: this execution has already started")
    ]
    assert not [e for e in episode.history if isinstance(e, ExecutionStartedEvent)]
    assert episode.runtime_status is OrchestrationStatus.COMPLETED


def test_execution_started_is_applied_first_and_inputs_are_not_mutated() -> None:
    local = App()

    @local.orchestrator
    def early(ctx: Any, _: Any) -> Any:
        return (yield ctx.wait_for_external_event("go"))

    go = event_raised("go", 1)
    start = started("early")
    episode = run_episode(
        local, instance_id="inst1", past_events=[], incoming_events=[go, start], now=at(0), new_guid=guids()
    )

    assert [type(e) for e in episode.history] == [
        OrchestratorStartedEvent,
        ExecutionStartedEvent,
        EventRaisedEvent,
        ExecutionCompletedEvent,
        OrchestratorCompletedEvent,
    ]
    assert episode.output == "1"
    assert go.is_played is False and start.is_played is False


def test_requires_an_execution_started_and_an_aware_now() -> None:
    with pytest.raises(ValueError, match="ExecutionStarted"):
        run_episode(
            app,
            instance_id="x",
            past_events=[],
            incoming_events=[event_raised("a")],
            now=at(0),
            new_guid=guids(),
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        run_episode(
            app,
            instance_id="x",
            past_events=[],
            incoming_events=[started("hello")],
            now=datetime(2024, 1, 1),
            new_guid=guids(),
        )


def test_failed_orchestration_writes_failure_details() -> None:
    local = App()

    @local.orchestrator
    def broken(ctx: Any, _: Any) -> Any:
        raise RuntimeError("kaput")

    episode = Driver(local).start("broken")

    [completed] = [e for e in episode.history if isinstance(e, ExecutionCompletedEvent)]
    assert completed.event_id == 0
    assert completed.orchestration_status is OrchestrationStatus.FAILED
    assert completed.failure_details is not None and completed.failure_details.message == "kaput"
    assert episode.runtime_status is OrchestrationStatus.FAILED
    assert episode.failure_details == completed.failure_details
