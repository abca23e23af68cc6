"""The executor seam (worker.executors): the registry picks the executor an app needs, the App executor
carries an orchestrator on between episodes and the Durable Functions one never does (the typed
``keeps_sessions`` capability), and activities come back as TaskCompleted / TaskFailed."""

from __future__ import annotations

from typing import Any

from taskhub.format.history import TaskCompletedEvent, TaskFailedEvent, TaskScheduledEvent
from taskhub.model.app import App
from tests.builders import orchestrator_started, started
from worker.engine.decisions import OrchestrationWork
from worker.executors.app import AppExecutor
from worker.executors.base import ActivityWork
from worker.functions.app import FunctionsApp
from worker.functions.executor import FunctionsExecutor
from worker.registry import executor_for

app = App()


@app.orchestrator
def waits(ctx: Any, _: Any) -> Any:
    return (yield ctx.wait_for_external_event("go"))


@app.activity
def double(_ctx: Any, x: int) -> int:
    return 2 * x


@app.activity
def broken(_ctx: Any, _x: Any) -> None:
    raise KeyError("no such thing")


def test_the_registry_runs_a_functions_app_through_the_functions_executor() -> None:
    plain, functions = executor_for(app), executor_for(FunctionsApp())
    assert type(plain) is AppExecutor and plain.keeps_sessions
    assert type(functions) is FunctionsExecutor and not functions.keeps_sessions
    plain.close()
    functions.close()


async def test_the_app_executor_hands_back_a_session_only_when_it_keeps_them() -> None:
    work = OrchestrationWork("inst1", [], [started("waits")])
    keeping, replaying = AppExecutor(app), AppExecutor(app, keeps_sessions=False)
    kept, replayed = await keeping.decide(work), await replaying.decide(work)
    assert kept.completion is None and kept.session is not None
    assert replayed.completion is None and replayed.session is None
    assert kept.actions == replayed.actions and kept.started == replayed.started


async def test_an_activity_comes_back_completed_failed_or_unknown() -> None:
    executor = AppExecutor(app)
    try:
        done = await executor.run_activity(ActivityWork("i", TaskScheduledEvent(event_id=3, name="double", input="21")))
        failed = await executor.run_activity(ActivityWork("i", TaskScheduledEvent(event_id=4, name="broken")))
        unknown = await executor.run_activity(ActivityWork("i", TaskScheduledEvent(event_id=5, name="nope")))
    finally:
        executor.close()
    assert isinstance(done.event, TaskCompletedEvent) and done.event.result == "42" and done.ran
    assert isinstance(failed.event, TaskFailedEvent) and failed.ran
    assert failed.event.failure_details is not None and failed.event.failure_details.error_type == "KeyError"
    assert isinstance(unknown.event, TaskFailedEvent) and not unknown.ran
    assert "'nope' is not registered" in (unknown.event.reason or "")
    assert "double" in (unknown.event.reason or "")


async def test_a_durable_functions_orchestrator_never_carries_on_between_episodes() -> None:
    from tests.functions.sdk import sdk_app

    def waiting(context: Any) -> Any:
        return (yield context.wait_for_external_event("go"))

    functions = sdk_app({"waiting": waiting})
    work = OrchestrationWork("inst1", [], [orchestrator_started(), started("waiting")])
    executor, in_process = executor_for(functions), AppExecutor(functions)
    try:
        decisions, kept = await executor.decide(work), await in_process.decide(work)
    finally:
        executor.close()
        in_process.close()
    assert decisions.completion is None  # it waits for the event...
    assert decisions.session is None  # ...and the next episode replays it from history
    assert kept.session is not None  # the executor decides that, not a flag on the orchestrator
