"""Suspend/resume buffering, terminate, and custom status."""

from __future__ import annotations

from typing import Any

from taskhub.format.history import ExecutionCompletedEvent, OrchestrationStatus, TaskScheduledEvent
from taskhub.model.app import App
from tests.builders import Driver, at, event_raised, resumed, suspended, task_completed, terminated

app = App()


@app.orchestrator
def two_steps(ctx: Any, _: Any) -> Any:
    ctx.set_custom_status("step 1")
    a = yield ctx.call_activity("first")
    ctx.set_custom_status({"step": 2, "a": a})
    b = yield ctx.call_activity("second")
    return [a, b]


def test_events_received_while_suspended_wait_for_resume() -> None:
    driver = Driver(app)
    driver.start("two_steps")
    paused = driver.run(suspended(), now=at(1))
    assert paused.runtime_status is OrchestrationStatus.SUSPENDED

    held = driver.run(task_completed(0, "A"), now=at(2))
    assert held.runtime_status is OrchestrationStatus.SUSPENDED
    assert not [e for e in held.history if isinstance(e, TaskScheduledEvent)]

    back = driver.run(resumed(), now=at(3))
    assert back.runtime_status is OrchestrationStatus.RUNNING
    assert [(e.event_id, e.name) for e in back.history if isinstance(e, TaskScheduledEvent)] == [
        (1, "second")
    ]

    done = driver.run(task_completed(1, "B"), now=at(4))
    assert done.runtime_status is OrchestrationStatus.COMPLETED
    assert done.output == '["A","B"]'


def test_suspend_and_resume_in_one_batch_deliver_in_order() -> None:
    driver = Driver(app)
    driver.start("two_steps")
    episode = driver.run(suspended(), task_completed(0, "A"), resumed(), now=at(1))

    assert episode.runtime_status is OrchestrationStatus.RUNNING
    assert [e.name for e in episode.history if isinstance(e, TaskScheduledEvent)] == ["second"]


def test_terminate_completes_with_the_reason() -> None:
    driver = Driver(app)
    driver.start("two_steps")
    episode = driver.run(terminated("operator said so"), now=at(1))

    assert episode.runtime_status is OrchestrationStatus.TERMINATED
    assert episode.output == '"operator said so"'
    [completed] = [e for e in episode.history if isinstance(e, ExecutionCompletedEvent)]
    assert completed.orchestration_status is OrchestrationStatus.TERMINATED
    assert completed.event_id == 1  # after the activity scheduled with id 0


def test_terminate_drops_work_the_same_batch_would_have_scheduled() -> None:
    driver = Driver(app)
    driver.start("two_steps")
    episode = driver.run(task_completed(0, "A"), terminated("stop"), now=at(1))

    assert episode.runtime_status is OrchestrationStatus.TERMINATED
    assert not [e for e in episode.history if isinstance(e, TaskScheduledEvent)]
    assert episode.outbound == []


def test_terminate_while_suspended() -> None:
    driver = Driver(app)
    driver.start("two_steps")
    driver.run(suspended(), now=at(1))
    episode = driver.run(terminated("stop"), now=at(2))

    assert episode.runtime_status is OrchestrationStatus.TERMINATED


def test_custom_status_is_the_latest_value_set_as_json() -> None:
    driver = Driver(app)
    first = driver.start("two_steps")
    assert first.custom_status == '"step 1"'

    second = driver.run(task_completed(0, 5), now=at(1))
    assert second.custom_status == '{"step":2,"a":5}'


def test_custom_status_must_be_json() -> None:
    local = App()

    @local.orchestrator
    def bad_status(ctx: Any, _: Any) -> Any:
        ctx.set_custom_status({1, 2})
        yield ctx.wait_for_external_event("x")

    episode = Driver(local).start("bad_status")

    assert episode.runtime_status is OrchestrationStatus.FAILED
    assert episode.failure_details is not None
    assert "custom status of orchestrator 'bad_status'" in episode.failure_details.message
    assert "set" in episode.failure_details.message


def test_events_after_completion_are_ignored() -> None:
    local = App()

    @local.orchestrator
    def once(ctx: Any, _: Any) -> Any:
        return (yield ctx.wait_for_external_event("go"))

    driver = Driver(local)
    driver.start("once")
    episode = driver.run(event_raised("go", 1), event_raised("go", 2), now=at(1))

    assert episode.output == "1"
