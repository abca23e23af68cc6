"""Scale out and in with real worker processes while orchestrations run.

One worker owns all 4 control queues; a 2nd and a 3rd join and each ends up owning 1-2 queues, every
queue owned by exactly one worker; then the workers leave one by one (SIGTERM: drain and release), and
the last one owns all 4 again. 200 orchestrations of the usual patterns are started at a steady rate
while this happens, and all complete with the right outputs. The workers' logs show no control
queue processed by two processes at once, and every checkpoint was written by the queue's owner.
Run with both partition managers (lease blobs, and the Partitions table).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from taskhub.client.async_client import TaskHubClient
from tests.helpers import REPO_ROOT
from tests.process.apps import expected_output, mixed_workload
from tests.process.harness import (
    MANAGERS,
    Fleet,
    activity_runs,
    check_logs,
    duplicates,
    feed,
    hub_env,
    instance_rows,
    owned_counts,
    settings_of,
    settled,
    verify_outcomes,
    wait_ownership,
    wait_queue_empty,
    wait_terminal,
)

pytestmark = [pytest.mark.slow]

JOIN_DEADLINE = 60.0
FEED_RATE = 8.0
"""New orchestrations per second: 200 take 25 s, about as long as the joins and leaves."""


def balanced(live: set[str]) -> Callable[[Any], bool]:
    """Settled, and each live worker owns between 1 and 2 of the 4 queues."""

    def check(view: Any) -> bool:
        counts = owned_counts(view)
        return settled(view, live) and all(1 <= counts[w] <= 2 for w in live)

    return check


@pytest.mark.timeout(300)
@pytest.mark.parametrize("manager", MANAGERS)
async def test_workers_join_and_leave_while_orchestrations_run(
    manager: str,
    azurite_connection_string: str,
    hub_name: str,
    fleets: Callable[..., Fleet],
    figures: dict[str, Any],
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.txt"
    env = hub_env(azurite_connection_string, hub_name, journal=journal, manager=manager)
    settings = settings_of(env)
    fleet = fleets(env)
    prefix = "scale"
    work = mixed_workload(200, prefix=prefix)
    t_start = time.monotonic()

    async with TaskHubClient(settings) as client:
        hub = client.service.hub
        fleet.start("w1")
        first, _ = await wait_ownership(hub, lambda v: settled(v, {"w1"}) and owned_counts(v)["w1"] == 4, 30)
        # a steady stream of new orchestrations while the fleet grows and shrinks
        feeder = asyncio.create_task(feed(client, work, per_second=FEED_RATE))
        await asyncio.sleep(2)

        joins = []
        for new, live in (("w2", {"w1", "w2"}), ("w3", {"w1", "w2", "w3"})):
            fleet.start(new)
            took, view = await wait_ownership(hub, balanced(live), JOIN_DEADLINE)
            joins.append(round(took, 1))
            print(f"{new} joined: balanced after {took:.1f} s: {owned_counts(view)}")

        leaves = []
        started_before_leaves = sum(1 for i in await instance_rows(hub, prefix) if ":" not in i)
        for leaving, live in (("w1", {"w2", "w3"}), ("w2", {"w3"})):
            t0 = time.monotonic()
            rc = await fleet.stop(leaving)
            assert rc == 0, f"{leaving} exited with {rc}\n{fleet.tail()}"
            want = (
                balanced(live)
                if len(live) > 1
                else (lambda v: settled(v, {"w3"}) and owned_counts(v)["w3"] == 4)
            )
            took, view = await wait_ownership(hub, want, JOIN_DEADLINE)
            leaves.append(round(time.monotonic() - t0, 1))
            print(f"{leaving} left: settled after {time.monotonic() - t0:.1f} s: {owned_counts(view)}")
        await feeder

        progress: list[float] = []
        await wait_terminal(hub, prefix, [w[0] for w in work], timeout=150, progress=progress)
        await wait_queue_empty(hub, hub.names.work_item_queue, 60)  # every run that will happen, happened
        problems, facts = await verify_outcomes(hub, work, prefix, expected_output)
        logs = check_logs(fleet, hub.names, facts)
        final = owned_counts((await wait_ownership(hub, lambda v: settled(v, {"w3"}), 10))[1])
        cli = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "taskhub", "get-partitions", "--host-json", str(fleet.host_json)),
            cwd=REPO_ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        shown, _ = await asyncio.wait_for(cli.communicate(), 60)
    runs = activity_runs(journal)

    figures.update(
        {
            "first_worker_owns_all_s": round(first, 1),
            "rebalance_on_join_s (w2, w3)": joins,
            "settle_on_graceful_leave_s (w1, w2)": leaves,
            "orchestrations": len(work),
            "instances_started_when_the_first_worker_left": started_before_leaves,
            "instances_checked (with sub-orchestrations)": len(facts),
            "activity_runs": sum(runs.values()),
            "activities_run_twice": len(duplicates(runs)),
            "checkpoints_logged": logs["checkpoints"],
            "split_brain_aborts": logs["split_brain_aborts"],
            "total_s": round(time.monotonic() - t_start, 1),
        }
    )
    assert not problems, problems[:20]
    assert logs["overlaps"] == [], logs["overlaps"]
    assert logs["checkpoints_outside_ownership"] == [], logs["checkpoints_outside_ownership"][:20]
    assert logs["more_checkpoints_than_episodes"] == [], logs["more_checkpoints_than_episodes"][:20]
    assert logs["checkpoints_writing_the_same_rows"] == [], logs["checkpoints_writing_the_same_rows"][:20]
    assert logs["errors"] == [], logs["errors"]
    # no worker died: every episode in the histories was logged as a checkpoint (the lines are read)
    assert logs["episodes_not_logged"] == {}, logs["episodes_not_logged"]
    assert logs["checkpoints"] >= len(work), logs["checkpoints"]
    assert max(joins) <= JOIN_DEADLINE
    assert final == {"w3": 4}
    # `taskhub get-partitions` says the same
    assert cli.returncode == 0
    assert {(p["ownership"]["owner"], p["intent"]["owner"]) for p in json.loads(shown)} == {("w3", "w3")}
    # graceful moves lose nothing and redo nothing
    assert duplicates(runs) == {}, duplicates(runs)
