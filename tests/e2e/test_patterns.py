"""The example patterns (examples/), end to end on a real worker: what a user of each would check."""

from __future__ import annotations

import time

import pytest

from examples.all import app
from taskhub.format.history import EventType, OrchestrationStatus
from tests.e2e.conftest import E2E

__all__ = ["app"]

COMPLETED = OrchestrationStatus.COMPLETED


async def test_chaining_passes_each_output_to_the_next_activity(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration("chaining", input=5)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is COMPLETED
    assert state.output == 81  # ((5 + 1) * 2 - 3) ** 2
    history = await e2e.history(iid)
    scheduled = [e for e in history if e.event_type is EventType.TaskScheduled]
    assert [(e.name, e.input) for e in scheduled] == [("F1", "5"), ("F2", "6"), ("F3", "12"), ("F4", "9")]
    assert [e.result for e in history if e.event_type is EventType.TaskCompleted] == ["6", "12", "9", "81"]
    assert [e.event_id for e in scheduled] == [0, 1, 2, 3]


@pytest.mark.front_door
async def test_fan_out_fan_in_runs_the_items_in_parallel_and_sums_them(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration("fan_out_fan_in", input=20)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is COMPLETED
    assert state.output == {"items": 20, "total": sum(i * i for i in range(1, 21))}
    history = await e2e.history(iid)
    # F2 x 20 was scheduled in one episode (between one OrchestratorStarted and the next)
    episodes: list[list[str]] = []
    for e in history:
        if e.event_type is EventType.OrchestratorStarted:
            episodes.append([])
        elif e.event_type is EventType.TaskScheduled:
            episodes[-1].append(e.name)
    assert ["process_item"] * 20 in episodes
    assert [n for ep in episodes for n in ep if n != "process_item"] == ["get_work_batch", "aggregate"]
    aggregate = next(e for e in history if e.event_type is EventType.TaskScheduled and e.name == "aggregate")
    assert aggregate.input == str(sum(i * i for i in range(1, 21)))


async def test_approval_approved_by_an_event_cancels_the_timer(e2e: E2E) -> None:
    proposal = {"project": "Riverside bridge", "budget": 100}
    began = time.monotonic()
    iid = await e2e.client.schedule_new_orchestration(
        "approval_workflow", input={"proposal": proposal, "timeout_seconds": 300}
    )
    await e2e.wait_for_event(iid, EventType.TimerCreated)  # request_approval done, now racing
    await e2e.client.raise_orchestration_event(iid, "ApprovalEvent", data=True)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is COMPLETED
    assert state.output == "approved: Riverside bridge"
    assert time.monotonic() - began < 60  # did not wait for the 300 s timer
    types = await e2e.event_types(iid)
    assert "TimerCreated" in types and "EventRaised" in types
    assert "TimerFired" not in types
    names = [e.name for e in await e2e.history(iid) if e.event_type is EventType.TaskScheduled]
    assert names == ["request_approval", "process_approval"]


async def test_approval_escalated_when_the_timer_fires_first(e2e: E2E) -> None:
    proposal = {"project": "Harbour tunnel"}
    iid = await e2e.client.schedule_new_orchestration(
        "approval_workflow", input={"proposal": proposal, "timeout_seconds": 2}
    )
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is COMPLETED
    assert state.output == "escalated: Harbour tunnel"
    history = await e2e.history(iid)
    created = next(e for e in history if e.event_type is EventType.TimerCreated)
    fired = next(e for e in history if e.event_type is EventType.TimerFired)
    assert fired.timer_id == created.event_id and fired.fire_at == created.fire_at
    started = next(e for e in history if e.event_type is EventType.OrchestratorStarted)
    assert 1.5 < (created.fire_at - started.timestamp).total_seconds() < 30
    assert "EventRaised" not in [e.event_type.name for e in history]
    names = [e.name for e in history if e.event_type is EventType.TaskScheduled]
    assert names == ["request_approval", "escalate"]


async def test_monitor_completes_when_the_job_is_done(e2e: E2E) -> None:
    job = {"job_id": "job-7", "poll_interval_seconds": 1, "expiry_seconds": 60, "ready_after_seconds": 2}
    iid = await e2e.client.schedule_new_orchestration("monitor", input=job)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=40)

    assert state.runtime_status is COMPLETED
    assert state.output["status"] == "completed" and state.output["job_id"] == "job-7"
    assert state.output["polls"] >= 2
    assert state.custom_status == {"polls": state.output["polls"], "job_status": "completed"}
    history = await e2e.history(iid)
    names = [e.name for e in history if e.event_type is EventType.TaskScheduled]
    assert names == ["get_job_status"] * state.output["polls"] + ["send_alert"]
    assert sum(e.event_type is EventType.TimerFired for e in history) == state.output["polls"] - 1


async def test_monitor_expires_when_the_job_never_finishes(e2e: E2E) -> None:
    job = {"job_id": "job-8", "poll_interval_seconds": 1, "expiry_seconds": 3}
    iid = await e2e.client.schedule_new_orchestration("monitor", input=job)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=40)

    assert state.runtime_status is COMPLETED
    assert state.output["status"] == "expired"
    assert 2 <= state.output["polls"] <= 4
    assert state.custom_status == {"polls": state.output["polls"], "job_status": "running"}
    names = [e.name for e in await e2e.history(iid) if e.event_type is EventType.TaskScheduled]
    assert "send_alert" not in names
