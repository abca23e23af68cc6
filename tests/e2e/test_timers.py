"""Durable timers: absolute and relative due times, naive datetimes rejected, long timers chained."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import worker.engine.context
from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import OrchestrationContext
from tests.e2e.conftest import E2E

app = App()


@app.orchestrator
def sleeps_until(ctx: OrchestrationContext, seconds: float):  # type: ignore[no-untyped-def]
    due = ctx.current_utc_datetime + timedelta(seconds=seconds)
    yield ctx.create_timer(due)
    return {"due": due.isoformat(), "now": ctx.current_utc_datetime.isoformat()}


@app.orchestrator
def naive_timer(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    yield ctx.create_timer(datetime(2030, 1, 1))


async def test_a_timer_at_an_aware_datetime_fires_at_that_time(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(sleeps_until, input=1.5)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.runtime_status is OrchestrationStatus.COMPLETED
    due, now = (datetime.fromisoformat(state.output[k]) for k in ("due", "now"))
    assert now >= due
    fired = next(e for e in await e2e.history(iid) if e.event_type is EventType.TimerFired)
    assert fired.fire_at == due


async def test_a_naive_datetime_fails_the_orchestration_with_a_clear_message(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(naive_timer)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.runtime_status is OrchestrationStatus.FAILED
    assert state.failure_details.error_type == "ValueError"
    assert "naive" in state.failure_details.message and "timezone-aware" in state.failure_details.message


async def test_a_long_timer_is_carried_by_a_chain_of_shorter_ones(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch
) -> None:
    # scaled down: "long" = more than 2 s away, carried by links of at most 1 s (6 days / 3 days in production)
    monkeypatch.setattr(worker.engine.context, "MAXIMUM_SHORT_TIMER_DURATION", timedelta(seconds=2))
    monkeypatch.setattr(worker.engine.context, "LONG_RUNNING_TIMER_INTERVAL", timedelta(seconds=1))
    iid = await e2e.client.schedule_new_orchestration(sleeps_until, input=3.5)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    due = datetime.fromisoformat(state.output["due"])
    assert datetime.fromisoformat(state.output["now"]) >= due
    history = await e2e.history(iid)
    created = [e for e in history if e.event_type is EventType.TimerCreated]
    fired = [e for e in history if e.event_type is EventType.TimerFired]
    assert len(created) >= 2 and len(fired) == len(created)
    assert created[-1].fire_at == due  # the last link is due at the requested time
    assert all(c.fire_at < due for c in created[:-1])
    assert [f.timer_id for f in fired] == [c.event_id for c in created]
