"""Entity operations are applied once even when the calling orchestration's checkpoint fails after it
sent them (issue 18, ``worker.episode_memo``).

The test-only storage wrapper (``tests.faults.StorageFaults``, installed as ``Storage.interceptor``)
makes chosen history writes of the in-process worker fail with a 500: the episode's messages (the entity calls) are out, its history is not. The batch goes
back to the queue and the episode runs again; it must send the same requests (same time, so the same
request ids and sorter labels), which the entity drops as duplicates.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import taskhub
from taskhub import EntityContext, EntityId
from taskhub.storage import Storage
from tests.entities.conftest import E2E
from tests.faults import StorageFaults
from tests.helpers import wait_for

app = taskhub.App()

pytestmark = [pytest.mark.timeout(300), pytest.mark.app(app)]


@app.entity
def ledger(ctx: EntityContext, input: Any) -> Any:
    """Appends each operation's input: a copy applied twice shows up twice."""
    if ctx.operation_name == "append":
        ctx.set_state([*ctx.get_state([]), input])
        return len(ctx.get_state())
    return ctx.get_state([])


@app.entity
def tally(ctx: EntityContext, input: Any) -> Any:
    if ctx.operation_name == "add":
        ctx.set_state(ctx.get_state(0) + input)
    return ctx.get_state(0)


@app.orchestrator
def append_five(ctx: taskhub.OrchestrationContext, key: str) -> Any:
    target = EntityId("ledger", key)
    for i in range(5):
        yield ctx.call_entity(target, "append", input=i)
    return (yield ctx.call_entity(target, "get"))


@app.orchestrator
def count_to(ctx: taskhub.OrchestrationContext, args: dict[str, Any]) -> Any:
    """Like benchmark E2's CallCounter: sequential ``add 1`` calls; the last value."""
    target, value = EntityId("tally", args["key"]), None
    for _ in range(args["calls"]):
        value = yield ctx.call_entity(target, "add", input=1)
    return value


def _fail_history_writes(monkeypatch: pytest.MonkeyPatch, calls: range) -> StorageFaults:
    """The history writes numbered ``calls`` (counting every batch written to the History table by
    this process, orchestrations' and entities') fail with a 500 before they reach Azurite."""
    faults = StorageFaults(",".join(f"submit_batch:{n}:500:History" for n in calls))
    monkeypatch.setattr(Storage, "interceptor", faults)
    return faults


def _repeats(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "orchestration.repeat_episode" in r.getMessage()]


async def test_a_call_whose_checkpoint_failed_after_sending_is_applied_once(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="worker")
    caplog.set_level(logging.INFO, logger="taskhub")
    # The orchestration's checkpoints are the 1st, 3rd, 5th ... history writes when nothing else runs:
    # each entity batch writes one in between. Fail the first three of the orchestration's episodes.
    faults = _fail_history_writes(monkeypatch, range(1, 6, 2))
    iid = await e2e.client.schedule_new_orchestration("append_five", input="a")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=120)
    assert state is not None and state.runtime_status.value == "Completed", state
    assert state.output == [0, 1, 2, 3, 4]
    meta = await e2e.client.get_entity(EntityId("ledger", "a"))
    assert meta is not None and meta.state == [0, 1, 2, 3, 4]
    failed = [r for r in caplog.records if "storage.fault_injected" in r.getMessage()]
    assert failed and faults.injected, "no history write was made to fail"
    assert {(op, kind) for op, _, kind in faults.injected} == {("submit_batch", "500")}
    assert _repeats(caplog), "no episode was retried after a failed checkpoint"


@pytest.mark.slow
async def test_e2_1000_calls_over_100_counters_with_failed_checkpoints_end_at_exactly_10(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="worker")
    caplog.set_level(logging.INFO, logger="taskhub")
    _fail_history_writes(monkeypatch, range(40, 2000, 29))  # about 65 failed checkpoints, spread out
    ids = await asyncio.gather(
        *(
            e2e.client.schedule_new_orchestration("count_to", input={"key": f"c{i:03d}", "calls": 10})
            for i in range(100)
        )
    )
    outputs = []
    for iid in ids:
        state = await e2e.client.wait_for_orchestration_completion(iid, timeout=240)
        assert state is not None and state.runtime_status.value == "Completed", state
        outputs.append(state.output)
    assert outputs == [10] * 100

    async def settled() -> list[Any]:
        metas = [await e2e.client.get_entity(EntityId("tally", f"c{i:03d}")) for i in range(100)]
        values = [m.state if m else None for m in metas]
        return values if all(m and m.backlog_queue_size == 0 for m in metas) else []

    values = await wait_for(settled, 60, 0.5, message="every counter's queue is empty")
    assert values == [10] * 100, [(i, v) for i, v in enumerate(values) if v != 10]
    assert len(_repeats(caplog)) >= 5, "too few episodes were retried to show anything"
