"""Terminate, suspend and resume an instance that waits for an event."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from tests.e2e.conftest import E2E
from tests.helpers import wait_for

app = App()


@app.orchestrator
def waits(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    answer = yield ctx.wait_for_external_event("Answer")
    return {"answer": answer}


@app.activity
def slow_step(ctx: ActivityContext, seconds: float) -> str:
    time.sleep(seconds)
    return "step done"


@app.orchestrator
def two_steps(ctx: OrchestrationContext, seconds: float):  # type: ignore[no-untyped-def]
    first = yield ctx.call_activity(slow_step, input=seconds)
    second = yield ctx.call_activity(slow_step, input=0)
    return [first, second]


async def _status(e2e: E2E, iid: str) -> OrchestrationStatus | None:
    state = await e2e.client.get_orchestration_state(iid)
    return state.runtime_status if state else None


async def test_suspend_holds_events_until_resume(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(waits)
    await e2e.client.wait_for_orchestration_start(iid, timeout=20)
    await e2e.client.suspend_orchestration(iid, reason="maintenance")

    async def suspended() -> bool:
        return await _status(e2e, iid) is OrchestrationStatus.SUSPENDED

    await wait_for(suspended, 20, 0.1)
    state = await e2e.client.get_orchestration_state(iid)
    assert state is not None and state.serialized_output == "maintenance"

    await e2e.client.raise_orchestration_event(iid, "Answer", data="yes")
    await e2e.wait_for_event(iid, EventType.EventRaised)  # received and recorded ...
    assert await _status(e2e, iid) is OrchestrationStatus.SUSPENDED  # ... but not acted on

    await e2e.client.resume_orchestration(iid, reason="back")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output == {"answer": "yes"}
    types = await e2e.event_types(iid)
    assert types.index("ExecutionSuspended") < types.index("EventRaised") < types.index("ExecutionResumed")
    assert types.index("ExecutionResumed") < types.index("ExecutionCompleted")


async def test_terminate_ends_a_waiting_instance_with_the_reason_as_output(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(waits)
    await e2e.client.wait_for_orchestration_start(iid, timeout=20)
    await e2e.client.terminate_orchestration(iid, output="cancelled by the user")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)

    assert state.runtime_status is OrchestrationStatus.TERMINATED
    assert state.output == "cancelled by the user"
    assert state.completed_at is not None
    history = await e2e.history(iid)
    terminated = next(e for e in history if e.event_type is EventType.ExecutionTerminated)
    assert terminated.input == '"cancelled by the user"'
    assert "EventRaised" not in [e.event_type.name for e in history]


async def test_terminate_a_suspended_instance(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(waits)
    await e2e.client.wait_for_orchestration_start(iid, timeout=20)
    await e2e.client.suspend_orchestration(iid)

    async def suspended() -> bool:
        return await _status(e2e, iid) is OrchestrationStatus.SUSPENDED

    await wait_for(suspended, 20, 0.1)
    await e2e.client.terminate_orchestration(iid, output="stop")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.runtime_status is OrchestrationStatus.TERMINATED and state.output == "stop"


async def test_terminating_a_scheduled_instance_before_it_starts(e2e: E2E) -> None:
    start_at = datetime.now(UTC) + timedelta(seconds=2)
    iid = await e2e.client.schedule_new_orchestration(waits, start_at=start_at)
    await e2e.client.terminate_orchestration(iid, output="never mind")

    async def terminated() -> bool:
        return await _status(e2e, iid) is OrchestrationStatus.TERMINATED

    await wait_for(terminated, 20, 0.1)
    # the start message becomes visible later; it must not bring the instance back to life
    await wait_for(lambda: datetime.now(UTC) > start_at + timedelta(seconds=1.5), 10, 0.1)
    await _queues_empty(e2e, iid)
    state = await e2e.client.get_orchestration_state(iid)
    assert state is not None and state.runtime_status is OrchestrationStatus.TERMINATED
    assert state.output == "never mind"


async def _queues_empty(e2e: E2E, iid: str) -> None:
    """Wait until the instance's control queue has no visible message left."""
    queue = e2e.client.service.hub.names.control_queue_for(iid)

    async def empty() -> bool:
        return await e2e.client.service.hub.storage.peek_messages(queue) == []

    await wait_for(empty, 20, 0.2)


async def test_an_activity_result_that_arrives_while_suspended_waits_for_resume(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(two_steps, input=2.0)
    await e2e.wait_for_event(iid, EventType.TaskScheduled)
    await e2e.client.suspend_orchestration(iid)
    await e2e.wait_for_event(iid, EventType.TaskCompleted)  # the result is recorded ...
    assert await _status(e2e, iid) is OrchestrationStatus.SUSPENDED
    assert (await e2e.event_types(iid)).count("TaskScheduled") == 1  # ... but the code did not go on

    await e2e.client.resume_orchestration(iid)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.output == ["step done", "step done"]
