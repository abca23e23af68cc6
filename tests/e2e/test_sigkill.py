"""Process death: a worker killed with SIGKILL in the middle of a fan-out; a new worker process on the
same hub finishes the orchestration once the dead one's ownership leases have expired.

The worker processes are real ``taskhub worker examples.fan_out_fan_in:app`` subprocesses, configured
through the environment (short leases so the test does not wait 30 s; 10 s work-item visibility; the
1-minute minimum control-queue visibility, which bounds how long the control messages the dead worker
had taken stay hidden). Every run of ``process_item`` is appended to a journal file, so the test can
count the activities that ran more than once (at-least-once execution, by design).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from taskhub.config.settings import Settings
from taskhub.format.history import EventType, OrchestrationStatus
from tests.e2e.conftest import E2E
from tests.helpers import REPO_ROOT, wait_for

ITEMS = 50
PREFIX = "AzureFunctionsJobHost__extensions__durableTask__"


def _worker_env(settings: Settings, journal: Path) -> dict[str, str]:
    assert settings.connection.connection_string is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX) and k != "AzureWebJobsStorage"}
    env.update(
        {
            "AzureWebJobsStorage": settings.connection.connection_string,
            f"{PREFIX}hubName": settings.hub_name,
            f"{PREFIX}maxConcurrentActivityFunctions": "4",
            f"{PREFIX}storageProvider__maxQueuePollingInterval": "00:00:00.5",
            f"{PREFIX}storageProvider__leaseInterval": "00:00:15",
            f"{PREFIX}storageProvider__leaseRenewInterval": "00:00:05",
            f"{PREFIX}storageProvider__leaseAcquireInterval": "00:00:02",
            f"{PREFIX}storageProvider__controlQueueVisibilityTimeout": "00:01:00",
            f"{PREFIX}storageProvider__workItemQueueVisibilityTimeout": "00:00:10",
            "TASKHUB_EXAMPLES_JOURNAL": str(journal),
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _spawn(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).parent / "taskhub"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "taskhub"]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*command, "worker", "examples.fan_out_fan_in:app", "-v"],
            cwd=cwd,  # no host.json there: the environment is the whole configuration
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _journal(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.app(None)
@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_a_worker_killed_mid_fan_out_is_replaced_and_the_orchestration_completes(
    e2e: E2E, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.txt"
    env = _worker_env(e2e.settings, journal)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(_spawn(env, tmp_path, tmp_path / "worker1.log"))
        iid = await e2e.client.schedule_new_orchestration(
            "fan_out_fan_in", input={"count": ITEMS, "work_seconds": 0.2}, instance_id="fan-kill"
        )
        await wait_for(lambda: len(_journal(journal)) >= 12, 60, 0.02, message="12 process_item runs")
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=10)
        killed_at = time.monotonic()
        ran_before = len(_journal(journal))
        assert ran_before < ITEMS, "every item ran before the kill; the test needs a slower fan-out"
        state = await e2e.client.get_orchestration_state(iid)
        assert state is not None and state.runtime_status is OrchestrationStatus.RUNNING

        procs.append(_spawn(env, tmp_path, tmp_path / "worker2.log"))
        state = await e2e.client.wait_for_orchestration_completion(iid, timeout=180)
        recovery = time.monotonic() - killed_at

        log_tail = (tmp_path / "worker2.log").read_text()[-3000:]
        assert state.runtime_status is OrchestrationStatus.COMPLETED, log_tail
        assert state.output == {"items": ITEMS, "total": sum(i * i for i in range(1, ITEMS + 1))}
        runs = Counter(line.split()[1] for line in _journal(journal))
        assert set(runs) == {str(i) for i in range(1, ITEMS + 1)}
        duplicates = sum(n - 1 for n in runs.values())
        history = await e2e.history(iid)
        assert sum(e.event_type is EventType.TaskCompleted for e in history) == ITEMS + 2  # each task once
        print(
            f"\nSIGKILL after {ran_before} of {ITEMS} process_item runs; completed {recovery:.1f} s after the kill; "
            f"{sum(runs.values())} runs in all, {duplicates} activities ran more than once"
        )
    finally:
        for proc in procs:
            _stop(proc)
