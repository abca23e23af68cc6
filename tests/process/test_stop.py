"""A worker stops when told, within its grace period, whatever the storage does (issue 18).

* Storage killed while slow activities run, then SIGTERM: the worker exits within
  ``shutdownGracePeriodInSeconds`` + 5 s; a second SIGTERM 3 s after the first exits at once (2 s).
  Nothing is lost: with the storage back, new workers complete every orchestration.
* Storage alive: SIGTERM lets a 3-second activity finish and record its result, then the worker exits;
  the activity does not run again when a worker comes back.
* Storage gone for a minute: no traceback and a line or two; back with its data: the instances are
  there and the running worker goes on; back empty (wiped): the worker recreates the hub, once.
* ``taskhub serve`` with a request waiting stops within its grace period too.

These tests stop and start an Azurite of their own (on disk, in the test's tmp dir, on fixed ports so
the connection string stays valid), never the session's.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.format.history import OrchestrationStatus
from tests.helpers import load_azurite_ctl, wait_for
from tests.process.apps import expected_output
from tests.process.harness import (
    ENV_PREFIX,
    Fleet,
    activity_runs,
    hub_env,
    journal_entries,
    output_of,
    settings_of,
    settled,
    wait_ownership,
    wait_terminal,
)

GRACE_KEY = ENV_PREFIX + "shutdownGracePeriodInSeconds"


@dataclass
class OwnAzurite:
    """An Azurite only this test uses: ``stop()`` kills the storage under the workers, ``start()``
    brings it back on the same ports with the same data (``wipe=True``: with none)."""

    run_dir: Path
    location: Path
    ports: tuple[int, int, int]
    connection_string: str

    def stop(self) -> None:
        load_azurite_ctl().stop(self.run_dir)

    def start(self, *, wipe: bool = False) -> None:
        if wipe:
            import shutil

            shutil.rmtree(self.location, ignore_errors=True)
        info = load_azurite_ctl().start(self.run_dir, in_memory=False, location=self.location, ports=self.ports)
        assert info.connection_string == self.connection_string


@pytest.fixture
def own_azurite(tmp_path: Path) -> Iterator[OwnAzurite]:
    ctl = load_azurite_ctl()
    run_dir, location = tmp_path / "azurite-run", tmp_path / "azurite-data"
    info = ctl.start(run_dir, in_memory=False, location=location, ports=(0, 0, 0))
    try:
        yield OwnAzurite(
            run_dir, location, (info.blob_port, info.queue_port, info.table_port), info.connection_string
        )
    finally:
        ctl.stop(run_dir)


async def _activities_started(journal: Path, count: int, timeout: float = 60) -> None:
    async def started() -> bool:
        return sum(1 for e in journal_entries(journal) if e.name == "sleep_for") >= count

    await wait_for(started, timeout, 0.1, message=f"{count} sleep_for activities started")


async def _exit_time(fleet: Fleet, worker_id: str, timeout: float) -> float:
    proc = fleet.current(worker_id)
    await fleet.wait_exit(proc, timeout)
    assert proc.ended is not None
    return proc.ended


async def _complete(env: dict[str, str], ids: dict[str, Any], timeout: float = 120) -> list[str]:
    """Problems with the instances (all must complete with their expected output)."""
    async with TaskHubClient(settings_of(env)) as client:
        rows = await wait_terminal(client.service.hub, "", list(ids), timeout)
    problems = []
    for iid, spec in ids.items():
        row = rows[iid]
        if row.runtime_status is not OrchestrationStatus.COMPLETED:
            problems.append(f"{iid}: {row.runtime_status}")
        elif output_of(row) != expected_output("sleepers", spec):
            problems.append(f"{iid}: {output_of(row)!r}")
    return problems


@pytest.mark.timeout(240)
async def test_storage_gone_then_sigterm_exits_within_the_grace_and_a_second_signal_at_once(
    own_azurite: OwnAzurite, tmp_path: Path, figures: dict[str, Any]
) -> None:
    grace = 5
    spec = {"n": 3, "seconds": 6}
    hubs = {"graceful": "stopgrace", "impatient": "stopagain"}
    envs: dict[str, dict[str, str]] = {}
    fleets: dict[str, Fleet] = {}
    ids: dict[str, dict[str, Any]] = {}
    try:
        for label, hub in hubs.items():
            env = hub_env(own_azurite.connection_string, hub, journal=tmp_path / f"journal-{label}.txt")
            env[GRACE_KEY] = str(grace if label == "graceful" else 30)
            envs[label], fleets[label] = env, Fleet(env, tmp_path / label)
            fleets[label].start("w1")
            async with TaskHubClient(settings_of(env)) as client:
                await wait_ownership(client.service.hub, lambda v: settled(v, {"w1"}), 60)
                ids[label] = {
                    await client.schedule_new_orchestration("sleepers", input=spec, instance_id=f"{label}-{i}"): spec
                    for i in range(2)
                }
        for label in hubs:
            await _activities_started(tmp_path / f"journal-{label}.txt", 3)

        own_azurite.stop()
        first = time.time()
        for fleet in fleets.values():
            fleet.current("w1").popen.send_signal(signal.SIGTERM)
        await asyncio.sleep(3)
        second = time.time()
        impatient = fleets["impatient"].current("w1")
        assert impatient.alive, fleets["impatient"].tail()  # its 30 s grace is not over
        impatient.popen.send_signal(signal.SIGTERM)
        after_second = await _exit_time(fleets["impatient"], "w1", 30) - second
        after_first = await _exit_time(fleets["graceful"], "w1", 60) - first
        figures.update({"exit_after_sigterm_s": round(after_first, 2), "exit_after_second_signal_s": round(after_second, 2)})
        assert after_first <= grace + 5, fleets["graceful"].tail()
        assert after_second <= 2, fleets["impatient"].tail()
        graceful_log = fleets["graceful"].current("w1").log_path.read_text()
        assert "Traceback" not in graceful_log, graceful_log[-3000:]

        # nothing is lost: with the storage back, new workers finish everything
        own_azurite.start()
        for fleet in fleets.values():
            fleet.start("w1")
        for label in hubs:
            problems = await _complete(envs[label], ids[label])
            assert not problems, fleets[label].tail()
    finally:
        for fleet in fleets.values():
            fleet.close()


@pytest.mark.timeout(180)
async def test_sigterm_lets_a_running_activity_finish_and_record_its_result(
    azurite_connection_string: str, hub_name: str, tmp_path: Path, figures: dict[str, Any]
) -> None:
    journal = tmp_path / "journal.txt"
    env = hub_env(azurite_connection_string, hub_name, journal=journal)
    env[GRACE_KEY] = "10"
    fleet = Fleet(env, tmp_path / "workers")
    spec = {"n": 1, "seconds": 3}
    try:
        fleet.start("w1")
        async with TaskHubClient(settings_of(env)) as client:
            await wait_ownership(client.service.hub, lambda v: settled(v, {"w1"}), 60)
            iid = await client.schedule_new_orchestration("sleepers", input=spec, instance_id="sleepy")
            await _activities_started(journal, 1)
            sent = time.time()
            assert await fleet.stop("w1", timeout=20) == 0, fleet.tail()
            figures["exit_after_sigterm_s"] = round(fleet.current("w1").ended - sent, 2)  # type: ignore[operator]
            lines = [line for line in fleet.logs() if line.event == "worker.stopped"]
            assert lines and lines[0].fields["activities_finished"] == "True", fleet.tail()
            # its result was sent and its work item deleted before the exit
            assert await client.service.hub.storage.queue_length(client.service.hub.names.work_item_queue) == 0
            fleet.start("w1")
            state = await client.wait_for_orchestration_completion(iid, timeout=90)
        assert state is not None and state.output == expected_output("sleepers", spec), fleet.tail()
        runs = activity_runs(journal)
        assert [n for (i, _), n in runs.items() if i == iid] == [1, 1], runs  # sleep_for and echo, once each
    finally:
        fleet.close()


def _lines_between(path: Path, start: float, end: float) -> list[str]:
    """The lines of a worker log (the timestamped ones, and the lines under them) written in [start, end]."""
    out: list[str] = []
    keep = False
    for text in path.read_text(errors="replace").splitlines():
        stamp = text[:23]
        if len(stamp) == 23 and stamp[4] == "-" and stamp[10] == " ":
            t = time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S")) + int(stamp[20:23]) / 1000
            keep = start <= t <= end
        if keep or "Traceback" in text:
            out.append(text)
    return out


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_storage_gone_for_a_minute_then_back_then_wiped(
    own_azurite: OwnAzurite, tmp_path: Path, figures: dict[str, Any]
) -> None:
    """60 s without storage: no traceback, a few lines; Azurite back with its data: the instances are
    there and the running worker goes on; Azurite back empty (wiped): the worker recreates the hub
    once and goes on."""
    journal = tmp_path / "journal.txt"
    env = hub_env(
        own_azurite.connection_string, "outagehub", storage={"maxQueuePollingInterval": "00:00:02"}, journal=journal
    )
    fleet = Fleet(env, tmp_path / "workers")
    spec = {"n": 2, "seconds": 3}
    try:
        fleet.start("w1")
        worker = fleet.current("w1")
        async with TaskHubClient(settings_of(env)) as client:
            before = await client.schedule_new_orchestration("chain", input=3, instance_id="before")
            state = await client.wait_for_orchestration_completion(before, timeout=60)
            assert state is not None and state.output == expected_output("chain", 3)
            # work in flight when the storage goes: two activities that finish during the outage
            during = await client.schedule_new_orchestration("sleepers", input=spec, instance_id="during")
            await _activities_started(journal, 2)

            own_azurite.stop()
            gone = time.time()
            await asyncio.sleep(60)
            lines = _lines_between(worker.log_path, gone, time.time())
            figures["log_lines_in_60_s_without_storage"] = len(lines)
            assert not any("Traceback" in line for line in lines), "\n".join(lines)
            assert 1 <= len(lines) <= 6, "\n".join(lines)
            assert any("storage.unreachable" in line for line in lines), "\n".join(lines)

            own_azurite.start()  # the same data: nothing lost, the same worker goes on
            back = time.time()

            async def reachable() -> bool:
                return "storage.reachable_again" in worker.log_path.read_text()

            await wait_for(reachable, 60, 0.5, message="the worker says the storage is back")
            figures["reachable_again_after_s"] = round(time.time() - back, 2)
            kept = await client.get_orchestration_state(before)
            assert kept is not None and kept.runtime_status is OrchestrationStatus.COMPLETED
            state = await client.wait_for_orchestration_completion(during, timeout=90)
            assert state is not None and state.output == expected_output("sleepers", spec), fleet.tail()
            after = await client.schedule_new_orchestration("chain", input=4, instance_id="after")
            state = await client.wait_for_orchestration_completion(after, timeout=90)
            assert state is not None and state.output == expected_output("chain", 4), fleet.tail()

            own_azurite.stop()
            own_azurite.start(wipe=True)  # back empty: the worker recreates the hub, once

            async def recreated() -> bool:
                return "hub.recreated" in worker.log_path.read_text()

            await wait_for(recreated, 60, 0.5, message="the worker recreates the hub")
            fresh = await client.schedule_new_orchestration("chain", input=5, instance_id="fresh")
            state = await client.wait_for_orchestration_completion(fresh, timeout=90)
            assert state is not None and state.output == expected_output("chain", 5), fleet.tail()
        log = worker.log_path.read_text()
        assert worker.alive, fleet.tail()
        assert log.count("hub.recreated") == 1, fleet.tail()
        assert "Traceback" not in log, log[-5000:]
    finally:
        fleet.close()


@pytest.mark.timeout(120)
async def test_taskhub_serve_with_a_request_waiting_stops_within_its_grace(
    azurite_connection_string: str, hub_name: str, tmp_path: Path
) -> None:
    """``taskhub serve`` with a request waiting (``?timeout=60``, on an orchestration no worker runs):
    SIGTERM stops it within its grace period (3 s here) plus 5 s, with exit status 0."""
    import socket
    import subprocess
    import sys
    import threading
    import urllib.request

    from tests.functions.host import free_port
    from tests.helpers import REPO_ROOT

    (tmp_path / "h.json").write_text('{"version": "2.0"}\n')
    port = free_port()

    def spawn() -> subprocess.Popen[bytes]:
        env = hub_env(azurite_connection_string, hub_name)
        env[GRACE_KEY] = "3"
        with open(tmp_path / "serve.log", "wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "taskhub", "serve", "--port", str(port), "--host-json", str(tmp_path / "h.json")],
                cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    proc = spawn()
    try:
        await wait_for(listening, 30, 0.1, message="taskhub serve listens")
        url = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask/orchestrators/chain?timeout=60"
        request = urllib.request.Request(url, data=b"1", method="POST", headers={"Content-Type": "application/json"})
        threading.Thread(target=lambda: _quietly(request), daemon=True).start()
        await asyncio.sleep(2)  # the request waits on its orchestration now
        first = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        await wait_for(lambda: proc.poll() is not None, 15, 0.1, message="serve exits within its grace")
        assert time.monotonic() - first <= 3 + 5
        assert proc.returncode == 0, (tmp_path / "serve.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


def _quietly(request: Any) -> None:
    """Send a request whose answer nobody reads (the server is stopped under it)."""
    import urllib.request

    with contextlib.suppress(Exception):
        urllib.request.urlopen(request, timeout=90).read()
