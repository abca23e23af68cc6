"""RetryPolicy: durable retry timers in the orchestration's own history."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from taskhub.model.tasks import RetryPolicy
from tests.e2e.conftest import E2E

app = App()
ATTEMPTS: Counter[str] = Counter()
"""Attempts per orchestration instance (the worker runs in this process)."""


@app.activity
def flaky(ctx: ActivityContext, succeed_on: int) -> str:
    ATTEMPTS[ctx.orchestration_id] += 1
    attempt = ATTEMPTS[ctx.orchestration_id]
    if attempt < succeed_on:
        raise ConnectionError(f"attempt {attempt} failed")
    return f"ok on attempt {attempt}"


@app.orchestrator
def with_retries(ctx: OrchestrationContext, request: dict[str, int]):  # type: ignore[no-untyped-def]
    policy = RetryPolicy(
        first_retry_interval=timedelta(seconds=1),
        max_number_of_attempts=request["max_attempts"],
        backoff_coefficient=1.5,
    )
    return (yield ctx.call_activity(flaky, input=request["succeed_on"], retry_policy=policy))


async def test_a_retry_policy_succeeds_on_the_third_attempt(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(
        with_retries, input={"succeed_on": 3, "max_attempts": 5}
    )
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output == "ok on attempt 3"
    assert ATTEMPTS[iid] == 3
    history = await e2e.history(iid)
    kinds = [
        e.event_type
        for e in history
        if e.event_type not in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted)
    ]
    assert kinds == [
        EventType.ExecutionStarted,
        EventType.TaskScheduled, EventType.TaskFailed, EventType.TimerCreated, EventType.TimerFired,
        EventType.TaskScheduled, EventType.TaskFailed, EventType.TimerCreated, EventType.TimerFired,
        EventType.TaskScheduled, EventType.TaskCompleted,
        EventType.ExecutionCompleted,
    ]  # fmt: skip
    timers = [e for e in history if e.event_type is EventType.TimerCreated]
    failures = [e for e in history if e.event_type is EventType.TaskFailed]
    # waits of 1 s, then 1.5 s (backoff), counted from orchestration time at the failure
    delays = [
        (t.fire_at - f_started).total_seconds()
        for t, f_started in zip(timers, _episode_times(history, failures), strict=True)
    ]
    assert [round(d, 1) for d in delays] == [1.0, 1.5]


def _episode_times(history, events):  # type: ignore[no-untyped-def]
    """The OrchestratorStarted time of the episode each event was processed in."""
    out, now = [], None
    for e in history:
        if e.event_type is EventType.OrchestratorStarted:
            now = e.timestamp
        if e in events:
            out.append(now)
    return out


async def test_a_retry_policy_that_runs_out_of_attempts_fails_with_task_failed_error(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(
        with_retries, input={"succeed_on": 99, "max_attempts": 2}
    )
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is OrchestrationStatus.FAILED
    assert ATTEMPTS[iid] == 2
    details = state.failure_details
    assert details is not None and details.error_type == "taskhub.errors.TaskFailedError"
    assert "after 2 attempts" in details.message and "attempt 2 failed" in details.message
    assert details.inner_failure is not None and details.inner_failure.error_type == "ConnectionError"
    types = await e2e.event_types(iid)
    assert (
        types.count("TaskScheduled") == 2
        and types.count("TaskFailed") == 2
        and types.count("TimerCreated") == 1
    )
