"""`taskhub sidecar` under faults, with real processes: an SDK worker SIGKILLed mid-activity (its work
reaches the other connected worker within seconds), and a sidecar SIGKILLed while SDK workers are busy
(a second sidecar takes its partitions; every orchestration completes with the right output)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from durabletask import client as dt

from taskhub.format.history import OrchestrationStatus
from taskhub.hub.lifecycle import TaskHub
from tests.helpers import REPO_ROOT
from tests.process.harness import check_instance, hub_env, output_of, settings_of, wait_terminal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
N_INSTANCES = 6
FAN = 4
EXPECTED = sum(i * 10 for i in range(FAN))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Procs:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.all: list[subprocess.Popen[bytes]] = []
        logs.mkdir(parents=True, exist_ok=True)
        (logs / "host.json").write_text('{"version": "2.0"}\n')

    def _start(self, label: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{label}.log", "wb") as log:
            p = subprocess.Popen(cmd, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.all.append(p)
        return p

    def sidecar(self, label: str, port: int) -> subprocess.Popen[bytes]:
        host_json = str(self.logs / "host.json")
        cmd = [sys.executable, "-m", "taskhub", "sidecar", "--port", str(port), "--worker-id", label]
        return self._start(label, [*cmd, "--host-json", host_json])

    def sdk_worker(self, label: str, port: int, journal: Path) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "tests.process.sdk_apps", f"localhost:{port}", str(journal)]
        return self._start(label, cmd)

    def close(self) -> None:
        for p in self.all:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def procs(azurite_connection_string: str, hub_name: str, tmp_path: Path) -> Iterator[Procs]:
    p = Procs(hub_env(azurite_connection_string, hub_name), tmp_path / "logs")
    try:
        yield p
    finally:
        p.close()


def _starts(journal: Path) -> list[tuple[int, str]]:
    """(pid, instance:task) of each activity start in the journal."""
    if not journal.exists():
        return []
    rows = []
    for line in journal.read_text().splitlines():
        _, pid, iid, task_id, _ = line.split()
        rows.append((int(pid), f"{iid}:{task_id}"))
    return rows


async def _start_all(port: int) -> list[str]:
    client = dt.TaskHubGrpcClient(host_address=f"localhost:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                await asyncio.to_thread(client.get_orchestration_state, "probe")
                break
            except Exception:
                assert time.monotonic() < deadline, "the sidecar did not start"
                await asyncio.sleep(0.3)
        return [
            await asyncio.to_thread(client.schedule_new_orchestration, "fan", input=FAN, instance_id=f"k-{i}")
            for i in range(N_INSTANCES)
        ]
    finally:
        client.close()


async def _check_all(procs: Procs, ids: list[str], timeout: float) -> None:
    hub = TaskHub(settings_of(procs.env))
    try:
        rows = await wait_terminal(hub, "k-", ids, timeout)
        for iid in ids:
            assert rows[iid].runtime_status is OrchestrationStatus.COMPLETED, (iid, rows[iid].output)
            assert output_of(rows[iid]) == EXPECTED
            facts = await check_instance(hub, iid, rows[iid])
            assert facts.problems == [], (iid, facts.problems)
    finally:
        await hub.close()


async def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_a_killed_sdk_worker_s_work_reaches_the_other_worker(procs: Procs, tmp_path: Path) -> None:
    port = _free_port()
    journal = tmp_path / "journal.txt"
    procs.sidecar("s1", port)
    first = procs.sdk_worker("a", port, journal)
    ids = await _start_all(port)
    await _wait(lambda: any(pid == first.pid for pid, _ in _starts(journal)), 60, "no activity started on a")
    second = procs.sdk_worker("b", port, journal)
    await asyncio.sleep(1.0)  # b connects
    held = {key for pid, key in _starts(journal) if pid == first.pid}
    os.kill(first.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    first.wait()
    await _wait(lambda: any(pid == second.pid for pid, _ in _starts(journal)), 30, "no work reached worker b")
    reached_after = time.monotonic() - killed_at
    print(f"work of the killed SDK worker reached the other one {reached_after:.1f} s after the kill")
    await _check_all(procs, ids, 120)
    rerun = {key for pid, key in _starts(journal) if pid == second.pid}
    assert held & rerun, "the activities the killed worker held were not run again by the other"


async def test_a_killed_sidecar_loses_nothing(procs: Procs, tmp_path: Path) -> None:
    p1, p2 = _free_port(), _free_port()
    journal = tmp_path / "journal.txt"
    s1 = procs.sidecar("s1", p1)
    procs.sdk_worker("a", p1, journal)
    ids = await _start_all(p1)
    await _wait(lambda: len(_starts(journal)) >= 2, 60, "no activity started")
    procs.sidecar("s2", p2)
    procs.sdk_worker("b", p2, journal)
    os.kill(s1.pid, signal.SIGKILL)
    s1.wait()
    await _check_all(procs, ids, 180)


async def test_an_sdk_worker_reconnects_to_a_restarted_sidecar(procs: Procs, tmp_path: Path) -> None:
    port = _free_port()
    journal = tmp_path / "journal.txt"
    first = procs.sidecar("s1", port)
    worker = procs.sdk_worker("a", port, journal)
    ids = await _start_all(port)
    await _wait(lambda: len(_starts(journal)) >= 1, 60, "no activity started")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    procs.sidecar("s1-again", port)  # the same address: the SDK worker's own reconnect finds it
    await _check_all(procs, ids, 180)
    assert worker.poll() is None  # the same SDK worker process did the rest
