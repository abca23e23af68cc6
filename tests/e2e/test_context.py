"""The orchestration context on a real worker: custom status, deterministic time and UUIDs, replay flag."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from tests.e2e.conftest import E2E
from tests.helpers import wait_for

app = App()


@app.activity
def record(ctx: ActivityContext, value: Any) -> Any:
    return value


@app.orchestrator
def status_steps(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    ctx.set_custom_status({"step": "waiting", "progress": 0.5})
    go = yield ctx.wait_for_external_event("go")
    ctx.set_custom_status(f"finished with {go}")
    return go


@app.orchestrator
def clock_and_ids(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    seen: dict[str, Any] = {"times": [], "uuids": [], "replaying": []}

    def note() -> None:
        seen["times"].append(ctx.current_utc_datetime.isoformat())
        seen["replaying"].append(ctx.is_replaying)

    note()
    first = [ctx.new_uuid(), ctx.new_uuid()]
    seen["uuids"].extend(first)
    echoed = yield ctx.call_activity(record, input=first)  # the first episode's UUIDs, as sent then
    note()
    yield ctx.create_timer(timedelta(seconds=1))
    note()
    seen["uuids"].append(ctx.new_uuid())
    seen["echoed"] = echoed
    seen["identity"] = [ctx.instance_id, ctx.execution_id, ctx.name, ctx.parent_instance_id]
    return seen


@app.orchestrator
def chatty(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    log = ctx.create_replay_safe_logger(logging.getLogger("tests.e2e.chatty"))
    log.info("step 1 of %s", ctx.instance_id)
    yield ctx.call_activity(record, input=1)
    log.info("step 2 of %s", ctx.instance_id)
    yield ctx.call_activity(record, input=2)
    log.info("step 3 of %s", ctx.instance_id)
    return "done"


async def test_the_replay_safe_logger_logs_each_line_once(e2e: E2E, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tests.e2e.chatty")
    iid = await e2e.client.schedule_new_orchestration(chatty)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.output == "done"
    lines = [r.getMessage() for r in caplog.records if r.name == "tests.e2e.chatty"]
    assert lines == [f"step {n} of {iid}" for n in (1, 2, 3)]  # three episodes, no line repeated


async def test_custom_status_is_visible_while_running_and_after_completion(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(status_steps)

    async def waiting_status() -> Any:
        state = await e2e.client.get_orchestration_state(iid)
        return state.custom_status if state and state.custom_status else None

    assert await wait_for(waiting_status, 20, 0.1) == {"step": "waiting", "progress": 0.5}
    state = await e2e.client.get_orchestration_state(iid)
    assert state is not None and state.runtime_status is OrchestrationStatus.RUNNING
    assert state.serialized_custom_status == '{"step":"waiting","progress":0.5}'

    await e2e.client.raise_orchestration_event(iid, "go", data="ok")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.custom_status == "finished with ok"


@pytest.mark.app(None)
@pytest.mark.parametrize("sessions", [False, True], ids=["replayed", "carried-on"])
async def test_time_and_uuids_are_deterministic_across_replays(e2e: E2E, sessions: bool) -> None:
    """Replayed every episode (``extendedSessionsEnabled: false``) or carried on in memory (the default):
    the same times, the same UUIDs; only ``is_replaying`` tells the two apart."""
    await e2e.start_worker(app, e2e.settings.with_overrides(extended_sessions_enabled=sessions))
    iid = await e2e.client.schedule_new_orchestration(clock_and_ids, instance_id="clock-1")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.runtime_status is OrchestrationStatus.COMPLETED
    out = state.output
    history = await e2e.history(iid)

    # each reading equals the OrchestratorStarted time of the episode that first reached it
    episodes = [e.timestamp for e in history if e.event_type is EventType.OrchestratorStarted]
    assert [datetime.fromisoformat(t) for t in out["times"]] == episodes[:3]
    timer = next(e for e in history if e.event_type is EventType.TimerCreated)
    assert timer.fire_at == episodes[1] + timedelta(seconds=1)
    assert episodes[2] >= timer.fire_at
    if sessions:  # the code ran once, each reading live
        assert out["replaying"] == [False, False, False]
    else:  # the final run replayed the first two readings and ran the last one live
        assert out["replaying"] == [True, True, False]

    # the UUIDs made in episode 1 (made again, equal, by a final replay) are those sent then
    assert out["echoed"] == out["uuids"][:2]
    scheduled = next(e for e in history if e.event_type is EventType.TaskScheduled)
    assert scheduled.input == '["{}","{}"]'.format(*out["uuids"][:2])
    assert len(set(out["uuids"])) == 3
    assert all(uuid.UUID(u).version == 5 for u in out["uuids"])
    assert out["identity"] == ["clock-1", state.execution_id, "clock_and_ids", None]
