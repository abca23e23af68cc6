"""Activities: sync and async functions, their context, and failures reaching the orchestrator."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from taskhub.errors import TaskFailedError
from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from tests.e2e.conftest import E2E

app = App()


class PaymentDeclined(Exception):
    """A user's own exception type; its qualified name travels in FailureDetails.ErrorType."""


@app.activity
def sync_echo(ctx: ActivityContext, value: Any) -> dict[str, Any]:
    return {
        "value": value,
        "thread": threading.current_thread().name,
        "orchestration_id": ctx.orchestration_id,
        "task_id": ctx.task_id,
        "name": ctx.name,
    }


@app.activity
async def async_echo(ctx: ActivityContext, value: Any) -> dict[str, Any]:
    await asyncio.sleep(0.01)
    return {"value": value, "thread": threading.current_thread().name, "task_id": ctx.task_id}


@app.activity
def charge(ctx: ActivityContext, amount: int) -> None:
    raise PaymentDeclined(f"card declined for {amount} EUR")


@app.orchestrator
def both_kinds(ctx: OrchestrationContext, value: Any):  # type: ignore[no-untyped-def]
    a = yield ctx.call_activity(sync_echo, input=value)
    b = yield ctx.call_activity("async_echo", input=value)
    return [a, b]


@app.orchestrator
def catches_failure(ctx: OrchestrationContext, amount: int):  # type: ignore[no-untyped-def]
    try:
        yield ctx.call_activity(charge, input=amount)
    except TaskFailedError as err:
        return {"type": err.details.error_type, "message": err.details.message, "text": str(err)}
    return "not reached"


@app.orchestrator
def lets_failure_through(ctx: OrchestrationContext, amount: int):  # type: ignore[no-untyped-def]
    yield ctx.call_activity(charge, input=amount)


async def test_sync_and_async_activities_get_their_input_and_context(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(both_kinds, input={"n": [1, 2]})
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    sync_out, async_out = state.output
    assert sync_out["value"] == {"n": [1, 2]} and async_out["value"] == {"n": [1, 2]}
    assert sync_out["thread"].startswith("activity")  # the thread pool
    assert async_out["thread"] == "MainThread"  # the event loop
    assert sync_out["orchestration_id"] == iid and sync_out["name"] == "sync_echo"
    assert (sync_out["task_id"], async_out["task_id"]) == (0, 1)


async def test_an_activity_exception_reaches_the_orchestrator_as_task_failed_error(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(catches_failure, input=42)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output["type"] == f"{__name__}.PaymentDeclined"
    assert state.output["message"] == "card declined for 42 EUR"
    assert "charge" in state.output["text"] and "card declined for 42 EUR" in state.output["text"]
    failed = next(e for e in await e2e.history(iid) if e.event_type is EventType.TaskFailed)
    assert failed.task_scheduled_id == 0
    assert failed.failure_details is not None
    assert failed.failure_details.error_type == f"{__name__}.PaymentDeclined"
    assert "Traceback" in (failed.failure_details.stack_trace or "")


async def test_an_uncaught_activity_failure_fails_the_orchestration(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(lets_failure_through, input=7)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is OrchestrationStatus.FAILED
    details = state.failure_details
    assert details is not None
    assert details.error_type == "taskhub.errors.TaskFailedError"
    assert "card declined for 7 EUR" in details.message
    assert details.inner_failure is not None and details.inner_failure.error_type.endswith("PaymentDeclined")
    assert "TaskFailedError" in state.serialized_output and "card declined" in state.serialized_output
