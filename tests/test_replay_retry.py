"""RetryPolicy: durable timers between attempts, computed from orchestration time only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from taskhub.format.history import (
    OrchestrationStatus,
    SubOrchestrationInstanceCreatedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
)
from taskhub.model.app import App
from taskhub.model.tasks import RetryPolicy
from tests.builders import Driver, at, sub_failed, task_completed, task_failed, timer_fired

app = App()
POLICY = RetryPolicy(
    first_retry_interval=timedelta(seconds=5), max_number_of_attempts=3, backoff_coefficient=2.0
)


@app.orchestrator
def persistent(ctx: Any, _: Any) -> Any:
    return (yield ctx.call_activity("flaky", input="x", retry_policy=POLICY))


@app.orchestrator
def bounded(ctx: Any, _: Any) -> Any:
    policy = RetryPolicy(
        first_retry_interval=timedelta(seconds=10),
        max_number_of_attempts=10,
        retry_timeout=timedelta(seconds=30),
    )
    return (yield ctx.call_activity("flaky", retry_policy=policy))


@app.orchestrator
def child_with_retry(ctx: Any, _: Any) -> Any:
    return (yield ctx.call_sub_orchestrator("child", input=1, retry_policy=POLICY))


def decisions(history: list[Any]) -> list[tuple[str, int, Any]]:
    out: list[tuple[str, int, Any]] = []
    for event in history:
        if isinstance(event, TaskScheduledEvent):
            out.append(("activity", event.event_id, event.name))
        elif isinstance(event, TimerCreatedEvent):
            out.append(("timer", event.event_id, event.fire_at))
        elif isinstance(event, SubOrchestrationInstanceCreatedEvent):
            out.append(("child", event.event_id, event.instance_id))
    return out


def test_succeeds_on_the_third_attempt_after_backoff_timers() -> None:
    driver = Driver(app)
    driver.start("persistent")
    driver.run(task_failed(0, "try again"), now=at(1))
    driver.run(timer_fired(1, at(6)), now=at(6))
    driver.run(task_failed(2, "try again"), now=at(7))
    driver.run(timer_fired(3, at(17)), now=at(17))
    done = driver.run(task_completed(4, "finally"), now=at(18))

    assert decisions(driver.history) == [
        ("activity", 0, "flaky"),
        ("timer", 1, at(1 + 5)),  # first retry interval
        ("activity", 2, "flaky"),
        ("timer", 3, at(7 + 10)),  # doubled
        ("activity", 4, "flaky"),
    ]
    assert done.runtime_status is OrchestrationStatus.COMPLETED
    assert done.output == '"finally"'


def test_fails_once_attempts_are_exhausted() -> None:
    driver = Driver(app)
    driver.start("persistent")
    driver.run(task_failed(0), now=at(1))
    driver.run(timer_fired(1, at(6)), now=at(6))
    driver.run(task_failed(2), now=at(7))
    driver.run(timer_fired(3, at(17)), now=at(17))
    done = driver.run(task_failed(4, "still broken", "OSError"), now=at(18))

    assert done.runtime_status is OrchestrationStatus.FAILED
    assert not [e for e in done.history if isinstance(e, TimerCreatedEvent)]
    details = done.failure_details
    assert details is not None
    assert details.error_type == "taskhub.errors.TaskFailedError"
    assert "after 3 attempts" in details.message
    assert details.inner_failure is not None and details.inner_failure.message == "still broken"


def test_no_retry_once_the_retry_timeout_has_passed() -> None:
    driver = Driver(app)
    driver.start("bounded")
    retried = driver.run(task_failed(0), now=at(20))
    assert decisions(retried.history) == [("timer", 1, at(30))]
    driver.run(timer_fired(1, at(30)), now=at(30))
    done = driver.run(task_failed(2), now=at(31))  # 31 s after the first attempt > 30 s

    assert done.runtime_status is OrchestrationStatus.FAILED


def test_non_retriable_failures_are_not_retried() -> None:
    driver = Driver(app)
    driver.start("persistent")
    done = driver.run(task_failed(0, "bad input", non_retriable=True), now=at(1))

    assert done.runtime_status is OrchestrationStatus.FAILED
    assert decisions(done.history) == []


def test_sub_orchestration_retry_reuses_the_child_instance_id() -> None:
    driver = Driver(app)
    driver.start("child_with_retry")
    driver.run(sub_failed(0), now=at(1))
    retry = driver.run(timer_fired(1, at(6)), now=at(6))

    assert decisions(driver.history) == [
        ("child", 0, "inst1:0000"),
        ("timer", 1, at(6)),
        ("child", 2, "inst1:0000"),
    ]
    assert [m.target.instance_id for m in retry.outbound] == ["inst1:0000"]
