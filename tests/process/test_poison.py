"""Poison messages with real worker processes: both kinds end in ``{h}-poison`` with a reason.

* A control-queue message of garbage (not a DTFx message at all) is moved aside at once.
* An activity that kills its worker process every time it runs (``crash_worker``: ``os._exit``) is
  retried until its work item was dequeued more than ``poisonMessageThreshold`` times, then moved
  aside; its orchestration gets a TaskFailed (``taskhub.PoisonMessage``) and runs its compensation.

Two workers run, and a supervisor restarts a worker (same id) whenever it dies. Orchestrations
started before and after the poisoning, including ones on the garbage message's control queue, all
complete with the right outputs: nothing else in the hub is held up for good (a crash only delays the
messages the dead process held, until their visibility timeout). ``taskhub poison list`` shows both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.format.history import OrchestrationStatus, TaskFailedEvent
from tests.helpers import REPO_ROOT, wait_for
from tests.process.apps import expected_output
from tests.process.harness import (
    Fleet,
    check_instance,
    hub_env,
    journal_entries,
    output_of,
    settings_of,
    settled,
    start_all,
    verify_outcomes,
    wait_ownership,
    wait_terminal,
)

pytestmark = [pytest.mark.slow]

THRESHOLD = 6
"""Low enough for a short test, high enough for the messages the crashes delay: a crash hides what the
dead process held for the 1-minute control-queue visibility timeout, and a result that arrives before
the history it answers is deferred with a 2, 4, 8, 16, 32 s backoff (its 6th dequeue comes ~62 s later)."""
CRASH_EXIT_CODE = 77
GARBAGE = "this is not a task message {"


async def _supervise(
    fleet: Fleet, ids: list[str], stop: asyncio.Event, deaths: list[tuple[str, int | None]]
) -> None:
    """Restart (same worker id) any worker that died; record who died with which exit code."""
    while not stop.is_set():
        for worker_id in ids:
            proc = fleet.current(worker_id)
            if proc.popen.poll() is not None:
                deaths.append((proc.label, proc.popen.returncode))
                fleet.start(worker_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.3)


@pytest.mark.timeout(240)
async def test_garbage_and_a_worker_killing_activity_end_in_the_poison_queue(
    azurite_connection_string: str,
    hub_name: str,
    fleets: Callable[..., Fleet],
    figures: dict[str, Any],
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.txt"
    env = hub_env(
        azurite_connection_string,
        hub_name,
        storage={"poisonMessageThreshold": str(THRESHOLD), "workItemQueueVisibilityTimeout": "00:00:08"},
        journal=journal,
    )
    settings = settings_of(env)
    fleet = fleets(env)
    stop = asyncio.Event()
    deaths: list[tuple[str, int | None]] = []
    supervisor: asyncio.Task[None] | None = None
    async with TaskHubClient(settings) as client:
        hub = client.service.hub
        names = hub.names
        garbage_queue = names.control_queue(0)
        try:
            fleet.start("w1")
            fleet.start("w2")
            await wait_ownership(hub, lambda v: settled(v, {"w1", "w2"}), 30)
            supervisor = asyncio.create_task(_supervise(fleet, ["w1", "w2"], stop, deaths))

            t0 = time.monotonic()
            await hub.storage.send_message(garbage_queue, GARBAGE)
            before = [(f"poison-a-{i:02d}", "chain", i) for i in range(30)]
            await start_all(client, [("poison-comp", "compensate", "order-1"), *before])

            async def both_poisoned() -> list[Any]:
                records = await hub.poison.list()
                return records if len(records) >= 2 else []

            records = await wait_for(both_poisoned, 120, 0.5, message="two poisoned messages")
            poisoned_after = time.monotonic() - t0
            rows = await wait_terminal(hub, "poison-comp", ["poison-comp"], timeout=60)
            comp_row = rows["poison-comp"]
            comp_facts = await check_instance(hub, "poison-comp", comp_row)
            comp_history = await client.get_orchestration_history("poison-comp")

            # after the poisoning: more work, some of it on the garbage message's own control queue
            after_ids = [f"poison-b-{i:03d}" for i in range(200)]
            after_b = [
                (i, "chain", n)
                for n, i in enumerate(after_ids)
                if names.control_queue_for(i) == garbage_queue
            ]
            after_b = after_b[:10]
            after_c = [(f"poison-c-{i:02d}", "fan", 3) for i in range(10)]
            t_after = time.monotonic()
            await start_all(client, after_b + after_c)
            await wait_terminal(hub, "poison-b", [w[0] for w in after_b], timeout=60)
            await wait_terminal(hub, "poison-c", [w[0] for w in after_c], timeout=60)
            after_latency = time.monotonic() - t_after
            await wait_terminal(hub, "poison-a", [w[0] for w in before], timeout=120)
            before_done = time.monotonic() - t0
            problems, _ = await verify_outcomes(hub, before, "poison-a", expected_output)
            problems += (await verify_outcomes(hub, after_b, "poison-b", expected_output))[0]
            problems += (await verify_outcomes(hub, after_c, "poison-c", expected_output))[0]
        finally:
            stop.set()
            if supervisor is not None:
                await supervisor

    cli = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "taskhub", "poison", "list", "--host-json", str(fleet.host_json)),
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(cli.communicate(), 60)
    runs = journal_entries(journal)
    by_origin = {r.origin_queue: r for r in records}
    failed = [e for e in comp_history if isinstance(e, TaskFailedEvent)]
    figures.update(
        {
            "poisoned_after_s": round(poisoned_after, 1),
            "worker_deaths": deaths,
            "crash_worker_runs": sum(1 for r in runs if r.name == "crash_worker"),
            "later_orchestrations_done_in_s": round(after_latency, 1),
            "earlier_orchestrations_done_after_s": round(before_done, 1),
            "poisoned": [(r.origin_queue, r.dequeue_count, r.reason) for r in records],
        }
    )

    assert len(records) == 2, records
    assert set(by_origin) == {garbage_queue, names.work_item_queue}, records
    garbage = by_origin[garbage_queue]
    assert garbage.reason.startswith("cannot be decoded"), garbage
    assert garbage.body == GARBAGE
    crashed = by_origin[names.work_item_queue]
    assert "crash_worker" in crashed.reason and "poison" in crashed.reason, crashed
    assert crashed.dequeue_count == THRESHOLD + 1
    # every run killed its worker; it ran at most THRESHOLD times (a dequeue may also have handed it
    # back unrun, when it came in one batch with another returning work item), then it was moved aside
    crash_runs = sum(1 for r in runs if r.name == "crash_worker")
    assert 2 <= crash_runs <= THRESHOLD
    assert [code for _, code in deaths] == [CRASH_EXIT_CODE] * crash_runs, (deaths, fleet.tail())
    # the orchestration got a TaskFailed it could handle, and compensated, once
    assert comp_row.runtime_status is OrchestrationStatus.COMPLETED, comp_row
    assert output_of(comp_row) == expected_output("compensate", "order-1")
    assert comp_facts.problems == [], comp_facts
    assert len(failed) == 1 and failed[0].failure_details is not None
    assert failed[0].failure_details.error_type == "taskhub.PoisonMessage"
    assert sum(1 for r in runs if r.name == "undo") == 1
    # nothing else was held up
    assert problems == [], problems[:20]
    assert after_latency < 45, after_latency
    # the CLI shows both, with their reasons
    assert cli.returncode == 0, err.decode()
    shown = json.loads(out)
    assert sorted(r["originQueue"] for r in shown) == sorted(by_origin), shown
    assert all(r["reason"] for r in shown)
