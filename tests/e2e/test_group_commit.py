"""Group commit on Azurite (``worker.pipeline.group_commit``): a chain of fast activities checkpoints
every ``TASKHUB_GROUP_COMMIT_MAX_EVENTS`` events or ``..._MAX_MS`` milliseconds, not once per step and
not once at the end; with ``TASKHUB_GROUP_COMMIT=0`` every step is its own checkpoint; either way the
stored history is the same, event for event, and passes the format check (the e2e fixture runs it on
every hub)."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from taskhub.storage import Storage
from tests.e2e.conftest import E2E
from tests.faults import StorageFaults

app = App()
SLEEP_S = 0.005


@app.activity
def echo(ctx: ActivityContext, value: int) -> int:
    return value


@app.activity
def nap(ctx: ActivityContext, value: int) -> int:
    time.sleep(SLEEP_S)
    return value


@app.orchestrator
def long_chain(ctx: OrchestrationContext, spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    total = 0
    for i in range(spec["n"]):
        total += yield ctx.call_activity(spec["activity"], input=i)
    return total


CHECKPOINT = re.compile(r"orchestration\.checkpoint instance_id=(\S+) .* events=(\d+) .* steps=(\d+)")


def _checkpoints(caplog: pytest.LogCaptureFixture, instance_id: str) -> list[tuple[int, int]]:
    """(events, steps) of each checkpoint the worker logged for ``instance_id``, in order."""
    out = []
    for record in caplog.records:
        m = CHECKPOINT.search(record.getMessage())
        if m and m.group(1) == instance_id:
            out.append((int(m.group(2)), int(m.group(3))))
    return out


async def _run(e2e: E2E, n: int, activity: str = "echo") -> tuple[str, list[str]]:
    iid = await e2e.client.schedule_new_orchestration("long_chain", input={"n": n, "activity": activity})
    done = await e2e.client.wait_for_orchestration_completion(iid, timeout=120)
    assert done.runtime_status is OrchestrationStatus.COMPLETED, done.failure_details
    assert done.output == n * (n - 1) // 2
    return iid, await e2e.event_types(iid)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="worker.pipeline.orchestrations")
    yield caplog


@pytest.mark.app(None)
async def test_a_chain_of_1000_fast_activities_checkpoints_at_the_event_bound(
    e2e: E2E, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKHUB_GROUP_COMMIT_MAX_MS", "60000")  # only the event bound (96, the default)
    worker = await e2e.start_worker(app)
    iid, types = await _run(e2e, 1000)
    assert types.count("TaskScheduled") == types.count("TaskCompleted") == 1000
    assert types.count("OrchestratorStarted") == 1001  # one episode per step, as step by step
    checkpoints = _checkpoints(logs, iid)
    assert sum(steps for _, steps in checkpoints) == 1001
    # each checkpoint stops at the first step that reaches 96 events: at most 99, one table batch
    assert max(events for events, _ in checkpoints) <= 99, checkpoints
    assert len(checkpoints) >= 4004 // 99, checkpoints  # regularly, not once at the end
    grouped = [steps for _, steps in checkpoints if steps > 1]
    assert len(grouped) >= 30 and max(grouped) >= 20, checkpoints  # and not step by step either
    assert worker.orchestrations.groups == len(grouped)
    assert worker.activities.in_memory_count >= 900


@pytest.mark.app(None)
async def test_the_time_bound_ends_a_group_of_slow_steps(
    e2e: E2E, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKHUB_GROUP_COMMIT_MAX_EVENTS", "10000")
    monkeypatch.setenv("TASKHUB_GROUP_COMMIT_MAX_MS", "30")
    await e2e.start_worker(app)
    iid, types = await _run(e2e, 60, "nap")
    assert types.count("TaskCompleted") == 60
    checkpoints = _checkpoints(logs, iid)
    assert sum(steps for _, steps in checkpoints) == 61
    # every step takes at least 5 ms, so a 30 ms group holds at most 7 (a slow machine: fewer)
    assert max(steps for _, steps in checkpoints) <= 30 // 5 + 1, checkpoints
    assert any(steps > 1 for _, steps in checkpoints), checkpoints


@pytest.mark.app(None)
@pytest.mark.parametrize("group_commit", ["1", "0"])
async def test_on_and_off_store_the_same_history(
    e2e: E2E, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, group_commit: str
) -> None:
    monkeypatch.setenv("TASKHUB_GROUP_COMMIT", group_commit)
    worker = await e2e.start_worker(app)
    iid, types = await _run(e2e, 20)
    assert types == [
        "OrchestratorStarted", "ExecutionStarted", "TaskScheduled", "OrchestratorCompleted",
        *["OrchestratorStarted", "TaskCompleted", "TaskScheduled", "OrchestratorCompleted"] * 19,
        "OrchestratorStarted", "TaskCompleted", "ExecutionCompleted", "OrchestratorCompleted",
    ]  # fmt: skip
    history = await e2e.history(iid)
    scheduled = [e.event_id for e in history if e.event_type is EventType.TaskScheduled]
    assert scheduled == list(range(20))
    checkpoints = _checkpoints(logs, iid)
    if group_commit == "0":
        assert checkpoints == [(4, 1)] * 21  # step by step: one checkpoint per episode
        assert worker.orchestrations.groups == 0 and worker.activities.in_memory_count == 0
    else:  # the first call goes through the queue (never run here before); then groups
        assert checkpoints[0] == (4, 1) and len(checkpoints) < 21, checkpoints
        assert worker.orchestrations.groups >= 1 and worker.activities.in_memory_count >= 18


RUNS: Counter[int] = Counter()


@app.activity
def counted(ctx: ActivityContext, value: int) -> int:
    RUNS[value] += 1
    return value


@pytest.mark.app(None)
async def test_a_group_whose_commit_fails_is_committed_again_as_it_was(
    e2e: E2E, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history write of the group's checkpoint fails (its messages may be out): the retry commits the
    same episode (``orchestration.repeat_group``) instead of deciding again, so the activities that ran
    in memory do not run again, and the history holds each step once."""
    faults = StorageFaults("submit_batch:2:500:History")  # the 1st is step 1's; the 2nd is the group's
    monkeypatch.setattr(Storage, "interceptor", faults)
    RUNS.clear()
    await e2e.start_worker(app)
    _, types = await _run(e2e, 10, "counted")
    assert faults.injected and faults.injected[0][0] == "submit_batch", faults.injected
    assert any("orchestration.repeat_group" in r.getMessage() for r in logs.records)
    assert dict(RUNS) == dict.fromkeys(range(10), 1)  # each ran once, in memory or not
    assert types.count("TaskScheduled") == types.count("TaskCompleted") == 10
    assert types.count("OrchestratorStarted") == 11
