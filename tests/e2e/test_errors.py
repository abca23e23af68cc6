"""Mistakes a user can make, and what they see: errors at the call site before anything is written,
or a Failed instance whose message says what went wrong."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from taskhub.errors import OrchestrationNotFoundError, TaskFailedError
from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from tests.e2e.conftest import E2E
from tests.format_check import read_instance_rows

app = App()
FLAGS = {"old_code": True}


@app.activity
def noop(ctx: ActivityContext, _: Any) -> str:
    return "ok"


@app.activity
def deploy_new_code(ctx: ActivityContext, _: Any) -> str:
    return "deployed"


@app.orchestrator
def returns_a_set(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    yield ctx.call_activity(noop)
    return {1, 2}


@app.orchestrator
def yields_a_number(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    yield 42


@app.orchestrator
def calls_a_missing_activity(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    try:
        yield ctx.call_activity("no_such_activity", input=1)
    except TaskFailedError as err:
        return err.details.message
    return "not reached"


@app.orchestrator
def changes_its_mind(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    if FLAGS["old_code"]:
        yield ctx.call_activity(deploy_new_code)
    else:
        yield ctx.call_activity(noop)
    yield ctx.wait_for_external_event("go")
    return "done"


async def _nothing_written(e2e: E2E, instance_id: str) -> None:
    assert await e2e.client.get_orchestration_state(instance_id) is None
    assert [r for r in read_instance_rows(e2e.client.service.hub) if r["PartitionKey"] == instance_id] == []
    for queue in e2e.client.service.hub.names.control_queues:
        peeked = await e2e.client.service.hub.storage.peek_messages(queue, max_messages=32)
        assert peeked == [], f"{queue} holds {peeked}"


async def test_a_non_json_input_raises_type_error_before_anything_is_written(e2e: E2E) -> None:
    with pytest.raises(TypeError) as caught:
        await e2e.client.schedule_new_orchestration(
            "returns_a_set", input={"when": {1, 2}}, instance_id="bad-input"
        )
    assert "returns_a_set" in str(caught.value) and "set" in str(caught.value)
    await _nothing_written(e2e, "bad-input")


BAD_IDS = ["", "@entity", "a/b", "a\\b", "a#b", "a?b", "a\nb", "tab\there", "x" * 257]


@pytest.mark.app(None)
async def test_invalid_ids_and_inputs_are_rejected_before_any_storage_is_touched(e2e: E2E) -> None:
    for bad_id in BAD_IDS:
        with pytest.raises(ValueError, match="instance id"):
            await e2e.client.schedule_new_orchestration("anything", instance_id=bad_id)
    with pytest.raises(TypeError, match=r"'anything'.*bytes"):
        await e2e.client.schedule_new_orchestration("anything", input=b"raw bytes")
    with pytest.raises(ValueError, match="timezone"):
        await e2e.client.schedule_new_orchestration("anything", start_at=datetime(2030, 1, 1))
    resources = await e2e.client.service.hub.resources()
    assert resources.empty, resources  # not even the hub was created


async def test_raising_an_event_on_an_unknown_instance_raises_not_found(e2e: E2E) -> None:
    with pytest.raises(OrchestrationNotFoundError):
        await e2e.client.raise_orchestration_event("nobody-home", "Hello", data=1)


async def test_an_orchestrator_returning_a_non_json_value_fails_naming_it_and_the_type(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(returns_a_set)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.runtime_status is OrchestrationStatus.FAILED
    assert state.failure_details is not None and state.failure_details.error_type == "TypeError"
    assert "'returns_a_set'" in state.failure_details.message and "set" in state.failure_details.message
    assert state.serialized_output.startswith("TypeError: ")


async def test_an_unknown_orchestrator_fails_listing_the_registered_ones(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration("no_such_orchestrator")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.runtime_status is OrchestrationStatus.FAILED
    message = state.failure_details.message
    assert "'no_such_orchestrator'" in message
    for name in app.orchestrator_names:
        assert name in message


async def test_an_unknown_activity_fails_the_task_listing_the_registered_ones(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(calls_a_missing_activity)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert "'no_such_activity'" in state.output
    for name in app.activity_names:
        assert name in state.output


async def test_yielding_something_that_is_not_a_task_fails_saying_what_was_yielded(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(yields_a_number)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.runtime_status is OrchestrationStatus.FAILED
    message = state.failure_details.message
    assert "'yields_a_number'" in message and "int" in message and "42" in message


@pytest.mark.parametrize("sessions", [False, True], ids=["replayed", "carried-on"])
@pytest.mark.app(None)
async def test_a_non_deterministic_orchestrator_fails_with_non_determinism_error(e2e: E2E, sessions: bool) -> None:
    """The code changes while an instance waits (a deploy: the worker stops, new code starts): the next
    episode replays the history with the new code and fails, whether or not the old worker kept the
    orchestrator in memory (``extendedSessionsEnabled``)."""
    settings = e2e.settings.with_overrides(extended_sessions_enabled=sessions)
    FLAGS["old_code"] = True
    await e2e.start_worker(app, settings)
    iid = await e2e.client.schedule_new_orchestration(changes_its_mind)
    await e2e.wait_for_event(iid, EventType.TaskCompleted)
    await e2e.stop_workers()
    FLAGS["old_code"] = False
    await e2e.start_worker(app, settings)
    await e2e.client.raise_orchestration_event(iid, "go")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)

    assert state.runtime_status is OrchestrationStatus.FAILED
    details = state.failure_details
    assert details.error_type == "taskhub.errors.NonDeterminismError"
    assert "TaskScheduled" in details.message and "'deploy_new_code'" in details.message  # what history holds
    assert "'noop'" in details.message  # what the code did now
    assert "EventId 0" in details.message
