"""Sub-orchestrations: results, failures, and deterministic child instance ids."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from taskhub.errors import TaskFailedError
from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from taskhub.model.tasks import RetryPolicy
from tests.e2e.conftest import E2E

app = App()


@app.activity
def double(ctx: ActivityContext, x: int) -> int:
    return 2 * x


@app.orchestrator
def child(ctx: OrchestrationContext, x: int):  # type: ignore[no-untyped-def]
    if x < 0:
        raise ValueError(f"negative input {x}")
    doubled = yield ctx.call_activity(double, input=x)
    return {"doubled": doubled, "me": ctx.instance_id, "parent": ctx.parent_instance_id}


@app.orchestrator
def parent(ctx: OrchestrationContext, xs: list[int]):  # type: ignore[no-untyped-def]
    first = yield ctx.call_sub_orchestrator(child, input=xs[0])
    named = yield ctx.call_sub_orchestrator("child", input=xs[1], instance_id=f"{ctx.instance_id}-named")
    return [first, named]


@app.orchestrator
def parent_of_failure(ctx: OrchestrationContext, x: int):  # type: ignore[no-untyped-def]
    try:
        yield ctx.call_sub_orchestrator(child, input=x)
    except TaskFailedError as err:
        return {"type": err.details.error_type, "message": err.details.message, "text": str(err)}
    return "not reached"


CHILD_RUNS: Counter[str] = Counter()


@app.orchestrator
def flaky_child(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    yield ctx.call_activity(double, input=1)
    if not ctx.is_replaying:
        CHILD_RUNS[ctx.execution_id] += 1
    if len(CHILD_RUNS) < 2:  # the first execution of the child fails
        raise RuntimeError("first attempt fails")
    return "second attempt worked"


@app.orchestrator
def parent_with_retry(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    policy = RetryPolicy(first_retry_interval=timedelta(seconds=1), max_number_of_attempts=3)
    return (yield ctx.call_sub_orchestrator(flaky_child, retry_policy=policy))


@app.orchestrator
def waiting_child(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    return (yield ctx.wait_for_external_event("never"))


@app.orchestrator
def parent_of_terminated(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    try:
        yield ctx.call_sub_orchestrator(waiting_child)
    except TaskFailedError as err:
        return f"child failed: {err.details.message}"
    return "not reached"


async def test_a_sub_orchestration_returns_its_output_to_the_parent(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(parent, input=[3, 4], instance_id="family-1")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output == [
        {"doubled": 6, "me": "family-1:0000", "parent": "family-1"},
        {"doubled": 8, "me": "family-1-named", "parent": "family-1"},
    ]
    for child_id in ("family-1:0000", "family-1-named"):
        child_state = await e2e.client.get_orchestration_state(child_id)
        assert child_state is not None and child_state.runtime_status is OrchestrationStatus.COMPLETED
        assert child_state.name == "child"
    history = await e2e.history(iid)
    created = [e for e in history if e.event_type is EventType.SubOrchestrationInstanceCreated]
    assert [(e.event_id, e.instance_id, e.name) for e in created] == [
        (0, "family-1:0000", "child"),
        (1, "family-1-named", "child"),
    ]
    completed = [e for e in history if e.event_type is EventType.SubOrchestrationInstanceCompleted]
    assert [e.task_scheduled_id for e in completed] == [0, 1]
    child_start = next(
        e for e in await e2e.history("family-1:0000") if e.event_type is EventType.ExecutionStarted
    )
    assert child_start.parent_instance is not None
    assert child_start.parent_instance.orchestration_instance.instance_id == "family-1"
    assert child_start.parent_instance.task_schedule_id == 0


async def test_a_failing_sub_orchestration_raises_task_failed_error_in_the_parent(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(parent_of_failure, input=-5, instance_id="family-2")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output["type"] == "ValueError"
    assert state.output["message"] == "negative input -5"
    assert "family-2:0000" in state.output["text"]
    child_state = await e2e.client.get_orchestration_state("family-2:0000")
    assert child_state is not None and child_state.runtime_status is OrchestrationStatus.FAILED
    assert child_state.failure_details is not None and child_state.failure_details.error_type == "ValueError"
    failed = next(
        e for e in await e2e.history(iid) if e.event_type is EventType.SubOrchestrationInstanceFailed
    )
    assert failed.task_scheduled_id == 0
    assert failed.failure_details is not None and failed.failure_details.error_type == "ValueError"


async def test_a_sub_orchestration_is_retried_under_the_same_instance_id(e2e: E2E) -> None:
    CHILD_RUNS.clear()
    iid = await e2e.client.schedule_new_orchestration(parent_with_retry, instance_id="family-3")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output == "second attempt worked"
    history = await e2e.history(iid)
    created = [e for e in history if e.event_type is EventType.SubOrchestrationInstanceCreated]
    assert [e.instance_id for e in created] == ["family-3:0000", "family-3:0000"]
    assert [e.event_type.name for e in history].count("SubOrchestrationInstanceFailed") == 1
    child = await e2e.client.get_orchestration_state("family-3:0000")
    assert child is not None and child.runtime_status is OrchestrationStatus.COMPLETED


async def test_terminating_a_sub_orchestration_fails_the_parents_task(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(parent_of_terminated, instance_id="family-4")
    await e2e.wait_for_event(iid, EventType.SubOrchestrationInstanceCreated)
    await e2e.client.wait_for_orchestration_start("family-4:0000", timeout=20)
    await e2e.client.terminate_orchestration("family-4:0000", output="stop the child")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output.startswith("child failed:") and "stop the child" in state.output
    child = await e2e.client.get_orchestration_state("family-4:0000")
    assert child is not None and child.runtime_status is OrchestrationStatus.TERMINATED
