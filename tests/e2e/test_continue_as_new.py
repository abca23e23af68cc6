"""continue_as_new: fresh history per generation, events carried with save_events."""

from __future__ import annotations

import time
from typing import Any

from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from tests.e2e.conftest import E2E
from tests.format_check import read_history_rows
from tests.helpers import wait_for

app = App()
ROUNDS = 20


@app.activity
def step(ctx: ActivityContext, n: int) -> int:
    time.sleep(0.1)  # slow enough that the events below arrive while early generations run
    return n + 1


@app.orchestrator
def counter(ctx: OrchestrationContext, state: dict[str, Any]):  # type: ignore[no-untyped-def]
    n = yield ctx.call_activity(step, input=state["n"])
    executions = [*state["executions"], ctx.execution_id]
    if n < ROUNDS:
        ctx.set_custom_status({"n": n})
        ctx.continue_as_new({"n": n, "executions": executions}, save_events=True)
        return None
    tallies = []
    for _ in range(3):  # raised while the earlier generations ran; carried over to this one
        tallies.append((yield ctx.wait_for_external_event("Tally")))
    return {"n": n, "tallies": tallies, "executions": executions}


async def test_continue_as_new_twenty_times_carries_events_and_keeps_only_the_last_history(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(counter, input={"n": 0, "executions": []})

    async def generation() -> int:
        state = await e2e.client.get_orchestration_state(iid)
        return state.custom_status["n"] if state and isinstance(state.custom_status, dict) else 0

    await wait_for(lambda: _at_least(generation, 3), 30, message="generation 3")
    for value in ("t1", "t2", "t3"):
        await e2e.client.raise_orchestration_event(iid, "tally", data=value)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=60)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output["n"] == ROUNDS
    assert state.output["tallies"] == ["t1", "t2", "t3"]
    executions = state.output["executions"]
    assert len(executions) == ROUNDS and len(set(executions)) == ROUNDS
    assert state.execution_id == executions[-1]  # the Instances row shows the final execution
    assert state.generation == 0  # continue-as-new is not a re-creation
    assert state.input == {"n": ROUNDS - 1, "executions": executions[:-1]}

    history = await e2e.history(iid)
    started = [e for e in history if e.event_type is EventType.ExecutionStarted]
    assert len(started) == 1 and started[0].orchestration_instance.execution_id == executions[-1]
    # carried over: written with the new execution's ExecutionStarted, not received by it later
    assert [e.event_type for e in history[:5]] == [
        EventType.OrchestratorStarted,
        EventType.ExecutionStarted,
        *[EventType.EventRaised] * 3,
    ]
    assert [e.input for e in history[2:5]] == ['"t1"', '"t2"', '"t3"']
    rows = read_history_rows(e2e.client.service.hub)
    current = [r for r in rows if r["RowKey"] != "sentinel" and r["ExecutionId"] == executions[-1]]
    assert len(current) == len(history)
    sentinel = next(r for r in rows if r["RowKey"] == "sentinel")
    assert sentinel["ExecutionId"] == executions[-1]


async def _at_least(generation, n: int) -> bool:  # type: ignore[no-untyped-def]
    return await generation() >= n
