"""Kill the worker at each step of the ordered checkpoint (worker.backends.azure_storage.checkpoint), then restart the fleet.

The test-only fault wrapper (``tests.faults.exit_at``, installed in the faulty worker by
``tests.process.fault_worker`` from ``TASKHUB_TEST_FAULT``) makes a worker process exit at one step of its first
checkpoint: (1) after the outbound messages were sent, (2) after the history batch, (3) after the
Instances row, (4) before deleting the consumed messages. Each step gets its own hub, and the four run
side by side (each waits out the 1-minute control-queue visibility timeout of the message the dead
worker held).

A sixth hub kills the worker *inside a group commit* (``worker.pipeline.group_commit``): after the
first step it decided in memory, before anything of the group was committed. Its orchestration is a
chain of ``add_one`` steps: the first call goes through the queue, the next ones run in memory. A new
fleet completes it with the right output; the activity that ran in memory runs again (counted), and
the history holds each step once.

A fifth hub kills the worker after the history of the episode that *completes* its orchestration:
the history is finished but the Instances row is not, and no later checkpoint would write it; the new
fleet repairs the row from the history when it discards the redelivered message.

Per hub: a healthy worker runs ``staged`` until it sleeps on its timer, and leaves gracefully; a
faulty worker takes the queues and dies at the checkpoint of the episode the timer fires (the one that
schedules a fan-out of three activities); then a fleet of two healthy workers completes the
orchestration, with the right output, once, and the Instances row agrees with the history. How many
activities ran twice is reported per step. A fault after the outbound messages (before the history)
makes the fan-out run twice: the episode is replayed and schedules it again. At the later steps nothing
runs twice: the faulty worker's activity loop had taken the fan-out's work items but waits for the
checkpoint of their orchestration to end before running them (``checkpoint_settled``), so they reappear
after workItemQueueVisibilityTimeout and run once in the new fleet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.format.history import EventType, OrchestrationStatus
from tests.faults import FAULT_EXIT_CODE, IN_GROUP
from tests.helpers import wait_for
from tests.process.apps import expected_output
from tests.process.harness import (
    FAULT_ENV,
    Fleet,
    activity_runs,
    check_instance,
    check_logs,
    duplicates,
    hub_env,
    journal_entries,
    output_of,
    settings_of,
    settled,
    wait_ownership,
    wait_queue_empty,
    wait_terminal,
)

pytestmark = [pytest.mark.slow]

STEPS = ["after_outbound", "after_history", "after_instance", "before_delete"]
TIMER_SECONDS = 10
FLEET_SIZE = 2


async def _one_step(
    step: str, connection_string: str, hub_name: str, fleets: Callable[..., Fleet], tmp_path: Path
) -> dict[str, Any]:
    journal = tmp_path / f"journal-{step}.txt"
    env = hub_env(connection_string, hub_name, journal=journal)
    fleet = fleets(env, name=step)
    instance_id = f"fault-{step}"
    spec = {"x": 4, "sleep": TIMER_SECONDS}
    async with TaskHubClient(settings_of(env)) as client:
        hub = client.service.hub
        fleet.start("w1")
        await wait_ownership(hub, lambda v: settled(v, {"w1"}), 60)
        await client.schedule_new_orchestration("staged", input=spec, instance_id=instance_id)

        async def sleeping() -> bool:
            state = await client.get_orchestration_state(instance_id, fetch_payloads=False)
            if state is None or state.runtime_status is not OrchestrationStatus.RUNNING:
                return False
            return any(
                e.event_type is EventType.TimerCreated
                for e in await client.get_orchestration_history(instance_id)
            )

        await wait_for(sleeping, 60, 0.2, message=f"{instance_id} sleeps on its timer")
        assert await fleet.stop("w1") == 0, fleet.tail()

        faulty = fleet.start("f1", extra_env={FAULT_ENV: step})
        rc = await fleet.wait_exit(faulty, TIMER_SECONDS + 60)
        assert rc == FAULT_EXIT_CODE, f"{step}: the faulty worker exited with {rc}\n{fleet.tail()}"
        fault_lines = [line for line in fleet.logs() if line.event == "checkpoint.fault_injected"]
        assert [line.fields.get("step") for line in fault_lines] == [step], fleet.tail()
        assert faulty.ended is not None
        t_fault = time.monotonic()

        for n in range(FLEET_SIZE):
            fleet.start(f"r{n + 1}")
        rows = await wait_terminal(hub, instance_id, [instance_id], timeout=150)
        recovered = time.monotonic() - t_fault
        # Work items the dead worker had taken reappear after workItemQueueVisibilityTimeout and run
        # again: count the runs only once the work-item queue is empty.
        await wait_queue_empty(hub, hub.names.work_item_queue, 90)
        row = rows[instance_id]
        facts = await check_instance(hub, instance_id, row)
        logs = check_logs(fleet, hub.names, {instance_id: facts})
        history = [e.event_type.name for e in await client.get_orchestration_history(instance_id)]
    entries = journal_entries(journal)
    runs = activity_runs(journal)
    return {
        "step": step,
        "status": row.runtime_status,
        "output": output_of(row),
        "problems": facts.problems,
        "completions": facts.completed,
        "recovered_after_fault_s": round(recovered, 1),
        "activity_runs": len(entries),
        "runs_in_the_faulty_worker": sum(1 for e in entries if e.pid == faulty.popen.pid),
        "runs_by_task": {e.task_id: runs[(e.instance_id, e.task_id)] for e in entries},
        "activities_run_twice": {f"task {task}": n for (_, task), n in sorted(duplicates(runs).items())},
        "history": history,
        "logs": logs,
    }


async def _completing_episode(
    connection_string: str, hub_name: str, fleets: Callable[..., Fleet], tmp_path: Path
) -> dict[str, Any]:
    """Killed after the history of the episode that *completes* the orchestration: the history says
    Completed, the Instances row still Pending, and every message that comes back is discarded. The
    new fleet must still bring the row up to date (orchestration.instance_repaired)."""
    step = "after_history"
    env = hub_env(connection_string, hub_name)
    fleet = fleets(env, name="completing-episode")
    instance_id = "fault-completing"
    async with TaskHubClient(settings_of(env)) as client:
        hub = client.service.hub
        faulty = fleet.start("f1", extra_env={FAULT_ENV: step})
        await wait_ownership(hub, lambda v: settled(v, {"f1"}), 60)
        await client.schedule_new_orchestration("instant", input=21, instance_id=instance_id)
        assert await fleet.wait_exit(faulty, 60) == FAULT_EXIT_CODE, fleet.tail()
        t_fault = time.monotonic()
        history = await client.get_orchestration_history(instance_id)
        state = await client.get_orchestration_state(instance_id, fetch_payloads=False)
        assert state is not None
        left_behind = state.runtime_status
        for n in range(FLEET_SIZE):
            fleet.start(f"r{n + 1}")
        rows = await wait_terminal(hub, instance_id, [instance_id], timeout=150)
        recovered = time.monotonic() - t_fault
        facts = await check_instance(hub, instance_id, rows[instance_id])
        repaired = [line for line in fleet.logs() if line.event == "orchestration.instance_repaired"]
    return {
        "step": "after_history (completing episode)",
        "history_at_fault": [e.event_type.name for e in history],
        "instances_at_fault": left_behind,
        "status": rows[instance_id].runtime_status,
        "output": output_of(rows[instance_id]),
        "problems": facts.problems,
        "completions": facts.completed,
        "repaired": len(repaired),
        "recovered_after_fault_s": round(recovered, 1),
    }


GROUP_STEPS = 12


async def _inside_group(
    connection_string: str, hub_name: str, fleets: Callable[..., Fleet], tmp_path: Path
) -> dict[str, Any]:
    journal = tmp_path / "journal-in-group.txt"
    env = hub_env(connection_string, hub_name, journal=journal)
    fleet = fleets(env, name=IN_GROUP)
    instance_id = "fault-in-group"
    async with TaskHubClient(settings_of(env)) as client:
        hub = client.service.hub
        faulty = fleet.start("f1", extra_env={FAULT_ENV: IN_GROUP})
        await wait_ownership(hub, lambda v: settled(v, {"f1"}), 60)
        await client.schedule_new_orchestration("steps", input=GROUP_STEPS, instance_id=instance_id)
        assert await fleet.wait_exit(faulty, 60) == FAULT_EXIT_CODE, fleet.tail()
        fault_lines = [line for line in fleet.logs() if line.event == "checkpoint.fault_injected"]
        history_at_fault = [e.event_type.name for e in await client.get_orchestration_history(instance_id)]
        t_fault = time.monotonic()
        for n in range(FLEET_SIZE):
            fleet.start(f"r{n + 1}")
        rows = await wait_terminal(hub, instance_id, [instance_id], timeout=150)
        recovered = time.monotonic() - t_fault
        await wait_queue_empty(hub, hub.names.work_item_queue, 90)
        facts = await check_instance(hub, instance_id, rows[instance_id])
        logs = check_logs(fleet, hub.names, {instance_id: facts})
        history = [e.event_type.name for e in await client.get_orchestration_history(instance_id)]
    runs = activity_runs(journal)
    return {
        "fault": [(line.fields.get("step"), line.fields.get("steps")) for line in fault_lines],
        "history_at_fault": history_at_fault,
        "status": rows[instance_id].runtime_status,
        "output": output_of(rows[instance_id]),
        "problems": facts.problems,
        "completions": facts.completed,
        "activities_run_twice": {f"task {task}": n for (_, task), n in sorted(duplicates(runs).items())},
        "activity_runs": sum(runs.values()),
        "recovered_after_fault_s": round(recovered, 1),
        "history": history,
        "logs": logs,
    }


@pytest.mark.timeout(300)
async def test_kill_at_each_checkpoint_step_then_restart(
    azurite_connection_string: str,
    hub_name: str,
    fleets: Callable[..., Fleet],
    figures: dict[str, Any],
    tmp_path: Path,
) -> None:
    t0 = time.monotonic()
    *results, completing, grouped = await asyncio.gather(
        *(
            _one_step(step, azurite_connection_string, f"{hub_name}s{i}", fleets, tmp_path)
            for i, step in enumerate(STEPS)
        ),
        _completing_episode(azurite_connection_string, f"{hub_name}c", fleets, tmp_path),
        _inside_group(azurite_connection_string, f"{hub_name}g", fleets, tmp_path),
    )
    for r in results:
        figures[r["step"]] = {
            "activities_run_twice": r["activities_run_twice"],
            "activity_runs": r["activity_runs"],
            "runs_in_the_faulty_worker": r["runs_in_the_faulty_worker"],
            "recovered_after_fault_s": r["recovered_after_fault_s"],
        }
    figures[completing["step"]] = {
        "instances_row_at_fault": completing["instances_at_fault"].value,
        "history_at_fault_ends_with": completing["history_at_fault"][-2:],
        "rows_repaired": completing["repaired"],
        "recovered_after_fault_s": completing["recovered_after_fault_s"],
    }
    figures[IN_GROUP] = {
        "activities_run_twice": grouped["activities_run_twice"],
        "activity_runs": grouped["activity_runs"],
        "recovered_after_fault_s": grouped["recovered_after_fault_s"],
    }
    figures["total_s"] = round(time.monotonic() - t0, 1)

    # inside a group: the first step was committed (its activity went through the queue), the second
    # was decided in memory and lost with the process; the new fleet runs everything from there, once
    assert grouped["fault"] == [(IN_GROUP, "2")], grouped
    assert grouped["history_at_fault"].count("TaskScheduled") == 1, grouped
    assert grouped["status"] is OrchestrationStatus.COMPLETED, grouped
    assert grouped["output"] == expected_output("steps", GROUP_STEPS), grouped
    assert grouped["problems"] == [] and grouped["completions"] == 1, grouped
    assert grouped["history"].count("TaskScheduled") == GROUP_STEPS, grouped
    assert grouped["history"].count("TaskCompleted") == GROUP_STEPS, grouped
    # the step that ran in memory before the kill ran again; nothing else did
    assert grouped["activities_run_twice"] == {"task 1": 2}, grouped
    assert grouped["activity_runs"] == GROUP_STEPS + 1, grouped
    assert grouped["logs"]["overlaps"] == [] and grouped["logs"]["more_checkpoints_than_episodes"] == [], grouped
    assert grouped["logs"]["episodes_not_logged"] == {}, grouped

    # the completing episode: history committed, Instances row behind, repaired by the new fleet
    assert completing["instances_at_fault"] is OrchestrationStatus.PENDING, completing
    assert "ExecutionCompleted" in completing["history_at_fault"], completing
    assert completing["status"] is OrchestrationStatus.COMPLETED, completing
    assert completing["output"] == expected_output("instant", 21), completing
    assert completing["problems"] == [] and completing["completions"] == 1, completing
    assert completing["repaired"] == 1, completing

    want = expected_output("staged", {"x": 4, "sleep": TIMER_SECONDS})
    for r in results:
        assert r["status"] is OrchestrationStatus.COMPLETED, r
        assert r["output"] == want, r
        assert r["problems"] == [], r
        assert r["completions"] == 1, r
        assert r["logs"]["overlaps"] == [], r
        assert r["logs"]["checkpoints_outside_ownership"] == [], r
        assert r["logs"]["more_checkpoints_than_episodes"] == [], r
        assert r["logs"]["checkpoints_writing_the_same_rows"] == [], r
        # the faulty worker died before logging its checkpoint: unlogged iff its history was committed
        unlogged = {} if r["step"] == "after_outbound" else {f"fault-{r['step']}": 1}
        assert r["logs"]["episodes_not_logged"] == unlogged, r
        assert r["logs"]["checkpoints"] >= 3, r  # w1's two episodes and the recovery's
        # the fan-out of three was scheduled once in the history, whatever ran twice
        assert r["history"].count("TaskScheduled") == 5, r
    by_step = {r["step"]: r for r in results}
    for r in results:
        # the faulty worker took the fan-out's work items but did not run them: an activity waits for
        # the checkpoint of its orchestration in the same process (checkpoint_settled), which never ended
        assert r["runs_in_the_faulty_worker"] == 0, r
        # add_one ran before the fault, combine after the recovery: once each
        assert r["runs_by_task"][0] == 1 and r["runs_by_task"][5] == 1, r
    # Once the history is committed, nothing runs twice: the work items of the fan-out reappear after
    # their visibility timeout and run once; the redelivered TimerFired is discarded as a duplicate.
    for step in ("after_history", "after_instance", "before_delete"):
        assert by_step[step]["activities_run_twice"] == {}, by_step[step]
    # Killed before the history: the episode is replayed and schedules the fan-out again, so each of
    # the three runs twice (the first copies' results are used or dropped as duplicates).
    runs = by_step["after_outbound"]["runs_by_task"]
    assert [runs[t] for t in (2, 3, 4)] == [2, 2, 2], by_step["after_outbound"]
