"""What a worker holds goes back at once when its work fails, and a dead worker's messages come back
within about the lease interval, not the 5-minute visibility timeouts (issue 9).

* One storage call fails in an episode (a 500 on the work-item send, then a 500 on the abandon that
  gives the batch back) and one in an activity's completion (the send hangs until the 30 s read
  timeout): the instance moves again within seconds of each failure and completes.
* Three workers with default settings, one SIGKILLed while 3-second activities run: every
  orchestration completes with the right output within 45 s of the kill; activities run twice are
  reported.
* The test's own Azurite is frozen (SIGSTOP) for 45 s in the middle of a run: everything completes
  within 15 s after it continues, and the worker is still running.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.format.history import OrchestrationStatus
from tests.faults import STORAGE_FAULT_ENV
from tests.helpers import load_azurite_ctl
from tests.process.harness import (
    DEFAULT_LEASES,
    Fleet,
    LogLine,
    activity_runs,
    checkpoints,
    duplicates,
    hub_env,
    journal_entries,
    output_of,
    owned_counts,
    settings_of,
    settled,
    start_all,
    wait_ownership,
    wait_terminal,
)
from tests.process.held_apps import expected

APP = "tests.process.held_apps:app"
DEFAULTS = {  # the documented defaults, where the harness's BASE_STORAGE shortens them
    "maxQueuePollingInterval": "00:00:30",
    "controlQueueVisibilityTimeout": "00:05:00",
    "workItemQueueVisibilityTimeout": "00:05:00",
}


def _events(fleet: Fleet, name: str) -> list[LogLine]:
    return [line for line in fleet.logs() if line.event == name]


async def _check_outputs(client: TaskHubClient, work: list[tuple[str, str, Any]]) -> list[str]:
    problems = []
    for instance_id, name, value in work:
        row = await client.service.hub.tracking.get_instance(instance_id)
        if row is None or row.runtime_status is not OrchestrationStatus.COMPLETED:
            problems.append(f"{instance_id}: {getattr(row, 'runtime_status', None)}")
        elif output_of(row) != expected(name, value):
            problems.append(f"{instance_id}: {output_of(row)!r} != {expected(name, value)!r}")
    return problems


@pytest.mark.timeout(240)
async def test_failed_calls_in_an_episode_and_a_completion_cost_seconds(
    azurite_connection_string: str, hub_name: str, tmp_path: Path, figures: dict[str, Any]
) -> None:
    env = hub_env(azurite_connection_string, hub_name, storage=DEFAULTS, journal=tmp_path / "journal.txt")
    fleet = Fleet(env, tmp_path / "workers", app=APP)
    faults = "send_message:1:500:workitems,update_message:1:500,send_message:1:hang:control"
    try:
        fleet.start("w1", extra_env={STORAGE_FAULT_ENV: faults})
        async with TaskHubClient(settings_of(env)) as client:
            await client.schedule_new_orchestration("two_steps", input=5, instance_id="faulty")
            rows = await wait_terminal(client.service.hub, "faulty", ["faulty"], timeout=180)
        assert rows["faulty"].runtime_status is OrchestrationStatus.COMPLETED, fleet.tail()
        assert output_of(rows["faulty"]) == 7
        injected = _events(fleet, "storage.fault_injected")
        assert [(f.fields["op"], f.fields["kind"]) for f in injected] == [
            ("send_message", "500"),
            ("update_message", "500"),
            ("send_message", "hang"),
        ], fleet.tail()
        # each failure is one line of its storage condition (taskhub.storage.conditions), no traceback
        failed = [e for e in _events(fleet, "storage.error") if e.fields["op"] == "send_message"]
        assert len(failed) == 1, fleet.tail()
        assert len([e for e in _events(fleet, "storage.error") if e.fields["op"] == "update_message"]) == 1
        retried = _events(fleet, "storage.unreachable")
        assert len(retried) == 1 and retried[0].fields["op"].startswith("send_message"), fleet.tail()
        assert "Traceback" not in fleet.current("w1").log_path.read_text()
        done = checkpoints(fleet.logs())
        after_episode = min(c.t for c in done if c.t > failed[0].t) - failed[0].t
        after_completion = min(c.t for c in done if c.t > retried[0].t) - retried[0].t
        figures.update(
            {
                "episode_failure_to_next_checkpoint_s": round(after_episode, 2),
                "completion_retry_to_next_checkpoint_s": round(after_completion, 2),
            }
        )
        # the abandon backoff of the first dequeue is 2 s; before, a failed give-back cost 5 minutes
        assert after_episode < 20, fleet.tail()
        assert after_completion < 20, fleet.tail()
        assert fleet.current("w1").alive
    finally:
        fleet.close()


@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_sigkill_while_three_second_activities_run_default_settings(
    azurite_connection_string: str, hub_name: str, tmp_path: Path, figures: dict[str, Any]
) -> None:
    journal = tmp_path / "journal.txt"
    env = hub_env(azurite_connection_string, hub_name, leases=DEFAULT_LEASES, storage=DEFAULTS, journal=journal)
    fleet = Fleet(env, tmp_path / "workers", app=APP)
    work = [(f"kill3-{i:02d}", "slow_fan", 3) for i in range(24)]
    try:
        async with TaskHubClient(settings_of(env)) as client:
            hub = client.service.hub
            fleet.start("w1")
            await wait_ownership(hub, lambda v: settled(v, {"w1"}), 60)
            fleet.start("w2")
            fleet.start("w3")
            live = {"w1", "w2", "w3"}
            await wait_ownership(
                hub, lambda v: settled(v, live) and all(owned_counts(v)[w] >= 1 for w in live), 120
            )
            await start_all(client, work)
            pids = {fleet.current(w).popen.pid: w for w in live}
            # kill a worker while it runs activities (they take 3 s): the first with 3 runs journaled
            victim = None
            deadline = time.monotonic() + 60
            while victim is None and time.monotonic() < deadline:
                counts: dict[str, int] = {}
                for run in journal_entries(journal):
                    if run.pid in pids:
                        counts[pids[run.pid]] = counts.get(pids[run.pid], 0) + 1
                victim = next((w for w, n in sorted(counts.items()) if n >= 3), None)
                await asyncio.sleep(0.2)
            assert victim is not None, fleet.tail()
            fleet.kill(victim)
            t_kill = time.monotonic()
            held_by_victim = sum(1 for r in journal_entries(journal) if pids.get(r.pid) == victim)
            await wait_terminal(hub, "kill3-", [w[0] for w in work], timeout=45)
            all_done = time.monotonic() - t_kill
            problems = await _check_outputs(client, work)
        runs = activity_runs(journal)
        dups = duplicates(runs)
        figures.update(
            {
                "victim": victim,
                "activities_started_by_victim": held_by_victim,
                "all_done_after_kill_s": round(all_done, 1),
                "activity_runs": sum(runs.values()),
                "activities_run_twice": len(dups),
                "extra_activity_runs": sum(n - 1 for n in dups.values()),
            }
        )
        assert not problems, problems
        assert len(runs) == sum(w[2] for w in work)
        assert max(runs.values()) <= 2, dups
    finally:
        fleet.close()


@pytest.fixture
def own_azurite(tmp_path: Path) -> Iterator[Any]:
    """An Azurite of this test alone (on disk), so that freezing it disturbs nobody else."""
    ctl = load_azurite_ctl()
    run_dir = tmp_path / "azurite"
    info = ctl.start(run_dir, in_memory=False, location=run_dir / "data", ports=(0, 0, 0))
    try:
        yield info
    finally:
        os.kill(info.pid, signal.SIGCONT)
        ctl.stop(run_dir)


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_storage_frozen_for_45_s_mid_run(
    own_azurite: Any, hub_name: str, tmp_path: Path, figures: dict[str, Any]
) -> None:
    env = hub_env(own_azurite.connection_string, hub_name, journal=tmp_path / "journal.txt")
    fleet = Fleet(env, tmp_path / "workers", app=APP)
    work = [(f"frz-{i:02d}", "slow_fan", 4) for i in range(12)] + [
        (f"frz-two-{i:02d}", "two_steps", i) for i in range(12)
    ]
    try:
        async with TaskHubClient(settings_of(env)) as client:
            fleet.start("w1")
            await wait_ownership(client.service.hub, lambda v: settled(v, {"w1"}), 60)
            await start_all(client, work)
            deadline = time.monotonic() + 60
            while len(journal_entries(tmp_path / "journal.txt")) < 10 and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            os.kill(own_azurite.pid, signal.SIGSTOP)
            await asyncio.sleep(45)
            os.kill(own_azurite.pid, signal.SIGCONT)
            t_back = time.monotonic()
            await wait_terminal(client.service.hub, "frz-", [w[0] for w in work], timeout=15)
            back_to_done = time.monotonic() - t_back
            problems = await _check_outputs(client, work)
        figures["all_done_after_storage_returned_s"] = round(back_to_done, 1)
        assert not problems, problems
        assert fleet.current("w1").alive, fleet.tail()
    finally:
        fleet.close()


FAN_OUT = 5000


async def _checkpoint_gaps(client: TaskHubClient, instance_id: str) -> float:
    """The longest pause between two consecutive History rows' service timestamps of ``instance_id``."""
    from taskhub.format.names import escape_partition_key

    pk = escape_partition_key(instance_id)
    stamps = sorted(
        [
            r.timestamp
            async for r in client.service.hub.storage.query(
                client.service.hub.tracking.history_table, f"PartitionKey eq '{pk}'", select=["RowKey", "Timestamp"]
            )
            if r.timestamp is not None
        ]
    )
    assert len(stamps) > FAN_OUT, len(stamps)
    return max((b - a).total_seconds() for a, b in itertools.pairwise(stamps))


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_fan_out_of_5000_three_times_without_a_pause(
    azurite_connection_string: str, hub_name: str, tmp_path: Path, figures: dict[str, Any]
) -> None:
    env = hub_env(azurite_connection_string, hub_name, storage=DEFAULTS)
    fleet = Fleet(env, tmp_path / "workers", app=APP)
    try:
        fleet.start("w1")
        async with TaskHubClient(settings_of(env)) as client:
            for run in range(3):
                instance_id = f"fan5k-{run}"
                t0 = time.monotonic()
                await client.schedule_new_orchestration("big_fan", input=FAN_OUT, instance_id=instance_id)
                rows = await wait_terminal(client.service.hub, instance_id, [instance_id], timeout=500)
                figures[f"run_{run}_s"] = round(time.monotonic() - t0, 1)
                assert output_of(rows[instance_id]) == expected("big_fan", FAN_OUT), fleet.tail()
                gap = await _checkpoint_gaps(client, instance_id)
                figures[f"run_{run}_longest_pause_between_history_rows_s"] = round(gap, 2)
                assert gap <= 5.0, (gap, fleet.tail())
        assert fleet.current("w1").alive
    finally:
        fleet.close()
