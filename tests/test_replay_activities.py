"""Activities and chaining: actions from replayed history, results fed back, ids in call order."""

from __future__ import annotations

from typing import Any

from taskhub.errors import TaskFailedError
from taskhub.format.history import OrchestrationStatus
from taskhub.model.app import App
from tests.builders import (
    at,
    orchestrator_completed,
    orchestrator_started,
    replay,
    started,
    task_completed,
    task_failed,
    task_scheduled,
)
from worker.engine.state import ScheduleTask

app = App()


@app.activity
def say_hello(ctx: Any, city: str) -> str:
    return f"Hello {city}!"


@app.orchestrator
def hello_cities(ctx: Any, _: Any) -> Any:
    r1 = yield ctx.call_activity(say_hello, input="Tokyo")
    r2 = yield ctx.call_activity("say_hello", input="Seattle")
    r3 = yield ctx.call_activity(say_hello, input="London")
    return [r1, r2, r3]


def test_first_episode_schedules_the_first_activity_with_id_0() -> None:
    result = replay(app, [], [orchestrator_started(), started("hello_cities")])

    assert result.actions == [ScheduleTask(0, "say_hello", '"Tokyo"')]
    assert result.completion is None
    assert result.is_waiting


def test_chain_replays_history_and_schedules_the_next_call() -> None:
    past = [
        orchestrator_started(),
        started("hello_cities"),
        task_scheduled(0, "say_hello", "Tokyo"),
        orchestrator_completed(),
    ]
    result = replay(app, past, [orchestrator_started(at(1)), task_completed(0, "Hello Tokyo!")])

    assert result.actions == [ScheduleTask(1, "say_hello", '"Seattle"')]


def test_chain_completes_with_all_results_in_order() -> None:
    past = [
        orchestrator_started(),
        started("hello_cities"),
        task_scheduled(0, "say_hello", "Tokyo"),
        orchestrator_completed(),
        orchestrator_started(at(1)),
        task_completed(0, "Hello Tokyo!"),
        task_scheduled(1, "say_hello", "Seattle"),
        orchestrator_completed(at(1)),
        orchestrator_started(at(2)),
        task_completed(1, "Hello Seattle!"),
        task_scheduled(2, "say_hello", "London"),
        orchestrator_completed(at(2)),
    ]
    result = replay(app, past, [orchestrator_started(at(3)), task_completed(2, "Hello London!")])

    assert result.actions == []
    assert result.completion is not None
    assert result.completion.status is OrchestrationStatus.COMPLETED
    assert result.completion.result == '["Hello Tokyo!","Hello Seattle!","Hello London!"]'
    assert result.completion.action_id == 3


def test_duplicate_completion_is_ignored() -> None:
    past = [orchestrator_started(), started("hello_cities"), task_scheduled(0, "say_hello", "Tokyo")]
    result = replay(
        app,
        past,
        [orchestrator_started(at(1)), task_completed(0, "Hello Tokyo!"), task_completed(0, "again")],
    )

    assert result.actions == [ScheduleTask(1, "say_hello", '"Seattle"')]


def test_failed_activity_reaches_the_generator_as_task_failed_error() -> None:
    local = App()
    seen: list[TaskFailedError] = []

    @local.orchestrator
    def careful(ctx: Any, _: Any) -> Any:
        try:
            yield ctx.call_activity("flaky")
        except TaskFailedError as exc:
            seen.append(exc)
            return "recovered"

    result = replay(
        local,
        [orchestrator_started(), started("careful"), task_scheduled(0, "flaky")],
        [orchestrator_started(at(1)), task_failed(0, "disk full", "OSError")],
    )

    assert result.completion is not None and result.completion.result == '"recovered"'
    assert seen[0].details.error_type == "OSError"
    assert seen[0].details.message == "disk full"
    assert "flaky" in str(seen[0])


def test_activity_output_that_is_not_json_fails_the_task() -> None:
    local = App()

    @local.orchestrator
    def reader(ctx: Any, _: Any) -> Any:
        try:
            yield ctx.call_activity("produce")
        except ValueError as exc:
            return str(exc)

    completed = task_completed(0)
    completed.result = "not json"
    result = replay(
        local, [orchestrator_started(), started("reader"), task_scheduled(0, "produce")], [completed]
    )

    assert result.completion is not None
    assert "output of activity 'produce' is not valid JSON" in (result.completion.result or "")


def test_plain_function_orchestrator_output_is_its_return_value() -> None:
    local = App()

    @local.orchestrator
    def fire_and_forget(ctx: Any, n: int) -> int:
        ctx.call_activity("log_it", input=n)
        return n * 2

    result = replay(local, [], [orchestrator_started(), started("fire_and_forget", 21)])

    assert result.completion is not None
    assert result.completion.result == "42"
    assert result.actions == [ScheduleTask(0, "log_it", "21")]
    assert result.completion.action_id == 1


def test_is_replaying_is_true_for_past_events_only() -> None:
    local = App()
    flags: list[bool] = []

    @local.orchestrator
    def watcher(ctx: Any, _: Any) -> Any:
        flags.append(ctx.is_replaying)
        yield ctx.call_activity("a")
        flags.append(ctx.is_replaying)
        yield ctx.call_activity("b")

    replay(
        local,
        [orchestrator_started(), started("watcher"), task_scheduled(0, "a")],
        [orchestrator_started(at(1)), task_completed(0)],
    )

    assert flags == [True, False]


def test_current_utc_datetime_is_the_orchestrator_started_timestamp() -> None:
    local = App()
    times: list[Any] = []

    @local.orchestrator
    def clock(ctx: Any, _: Any) -> Any:
        times.append(ctx.current_utc_datetime)
        yield ctx.call_activity("a")
        times.append(ctx.current_utc_datetime)

    replay(
        local,
        [orchestrator_started(), started("clock"), task_scheduled(0, "a")],
        [orchestrator_started(at(minutes=5)), task_completed(0)],
    )

    assert times == [at(), at(minutes=5)]
    assert times[0].utcoffset() is not None
