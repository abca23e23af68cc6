"""The benchmark driver: ``python -m bench [--quick] [--out PATH] [--skip-w5]`` (see bench/README.md).

One run starts its own in-memory Azurite on free ports (``azurite/azurite_ctl.py``) in a temporary run
directory, measures the floor (raw queue round trips and table batch writes through the storage seam),
runs W1, W2, W3 and W5, each on its own task hub with its own worker process
(``python -m bench.worker_proc``), prints a table and saves everything as JSON, then stops Azurite.

Storage calls are the counts of ``taskhub.storage.Storage.calls``: the worker process reports its own
(before and after each workload) and the client side is this process's ``TaskHubClient``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.worker_proc import proc_status
from taskhub.client import TaskHubClient
from taskhub.history import OrchestrationStatus
from taskhub.settings import Settings
from taskhub.status import OrchestrationState
from taskhub.storage import BatchOp, Storage

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
HOST_JSON = REPO / "host.json"
ENV_PREFIX = "AzureFunctionsJobHost__extensions__durableTask__"
CLK_TCK = os.sysconf("SC_CLK_TCK")

FLOOR_DEFINITION = (
    "floor = raw Azurite queue round trips per second: one send_message + receive_messages(1) + "
    "delete_message cycle (500-byte message) counts once; 8 concurrent loops in one Python process on "
    "the SDK's async QueueClient directly (use_env_settings=False), on the same Azurite, in the same "
    "run. ratio = figure / floor. The same measured through the storage seam is shown as 'seam'."
)
CALLS_DEFINITION = (
    "storage calls per activity round trip = (worker + client Storage.calls during the workload, "
    "idle polls and lease renewals included) / activities run"
)
THROUGHPUT_SETTINGS = {  # W1-W3: no host.json; defaults plus these
    "storageProvider__maxQueuePollingInterval": "00:00:01",
}


@dataclass(frozen=True)
class Counts:
    floor_queue_seq: int
    floor_queue_conc: int  # per loop, 8 loops
    floor_batches_seq: int
    floor_batches_conc: int  # per loop, 4 loops
    w1: int
    w2: int
    w3: int
    w5_reps: int


FULL = Counts(300, 100, 30, 10, 100, 100, 500, 3)
QUICK = Counts(60, 20, 6, 3, 20, 25, 100, 1)

TARGETS = {  # workload -> (figure key, comparison, value, unit)
    "W1": (">=", 10.0, "orchestrations/s"),
    "W2": (">=", 25.0, "activities/s"),
    "W3": (">=", 100.0, "activities/s"),
}
MAX_CALLS_PER_ACTIVITY = 10.0
MAX_W1_WORKER_MB = 300.0


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- Azurite and processes ------------------------------------------------------------------------


def load_azurite_ctl() -> ModuleType:
    """azurite/azurite_ctl.py (a script, not a package) as the module ``azurite_ctl``."""
    if "azurite_ctl" in sys.modules:
        return sys.modules["azurite_ctl"]
    path = REPO / "azurite" / "azurite_ctl.py"
    spec = importlib.util.spec_from_file_location("azurite_ctl", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules["azurite_ctl"] = module  # its dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0 if it is gone)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else 0.0


def session_cpu_seconds(sid: int) -> float:
    """CPU seconds of every process in session ``sid`` (Azurite runs in a session of its own)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields and int(fields[3]) == sid:
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def system_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used (from /proc/stat)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


async def wait_quiet(limit: float, threshold: float = 0.3) -> None:
    """Wait (up to ``limit`` s) until other processes use less than ``threshold`` cores."""
    deadline = time.monotonic() + limit
    load = await other_load(1.0)
    if load < threshold or limit <= 0:
        return
    say(f"  waiting up to {limit:.0f} s for other processes ({load:.1f} cores busy) to quieten down ...")
    while time.monotonic() < deadline:
        load = await other_load(1.0)
        if load < threshold:
            return
    say(f"  still {load:.1f} cores busy with other work; going on")


async def other_load(seconds: float) -> float:
    """Cores kept busy by other processes over ``seconds`` (this process excluded)."""
    sys0, own0 = system_busy_seconds(), sum(os.times()[:2])
    await asyncio.sleep(seconds)
    return max(0.0, (system_busy_seconds() - sys0) - (sum(os.times()[:2]) - own0)) / seconds


def child_env(conn: str, hub: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the worker/client processes: ours, minus inherited task hub settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().startswith("azurefunctionsjobhost") and k != "AzureWebJobsStorage"
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["AzureWebJobsStorage"] = conn
    env[ENV_PREFIX + "hubName"] = hub
    for key, value in (extra or {}).items():
        env[ENV_PREFIX + key] = value
    return env


def settings_for(env: dict[str, str], host_json: Path | None) -> Settings:
    return Settings.load(str(host_json) if host_json else None, env=env)


def open_log(path: Path) -> Any:
    return open(path, "ab")  # handed to the child process, closed by the caller


class WorkerProcess:
    """``python -m bench.worker_proc`` and its JSON-lines protocol."""

    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path
        self.ready: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    async def start(cls, env: dict[str, str], host_json: Path | None, log_path: Path) -> WorkerProcess:
        args = [sys.executable, "-m", "bench.worker_proc"]
        if host_json:
            args += ["--host-json", str(host_json)]
        log = open_log(log_path)
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                cwd=str(REPO),
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        finally:
            log.close()
        self = cls(proc, log_path)
        try:
            self.ready = await self._read(90)
        except BaseException:
            await self.kill()
            raise
        if self.ready.get("event") != "ready":
            await self.kill()
            raise RuntimeError(f"worker did not start: {self.ready}; see {log_path}")
        if len(self.ready["owned_queues"]) < self.ready["partition_count"]:
            say(
                f"  warning: worker owns {self.ready['owned_queues']} of {self.ready['partition_count']} queues"
            )
        return self

    async def _read(self, limit: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), limit)
        if not line:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"worker process exited (code {self.proc.returncode}); log tail:\n{tail}")
        result: dict[str, Any] = json.loads(line)
        return result

    async def request(self, cmd: str, limit: float = 60, **kwargs: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"cmd": cmd, **kwargs}) + "\n").encode())
        await self.proc.stdin.drain()
        return await self._read(limit)

    async def stop(self) -> dict[str, Any]:
        """Graceful stop; returns the final snapshot."""
        try:
            final = await self.request("stop", limit=120)
            await asyncio.wait_for(self.proc.wait(), 30)
            return final
        except BaseException:
            await self.kill()
            raise

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.proc.wait(), 10)


class MemorySampler:
    """Samples a process's VmRSS every ``interval`` seconds while running."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.max_rss_kb = 0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            rss = proc_status(self.pid).get("VmRSS", 0)
            self.max_rss_kb = max(self.max_rss_kb, rss)
            self.samples += 1
            await asyncio.sleep(self.interval)

    def __enter__(self) -> MemorySampler:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


# -- the floor ----------------------------------------------------------------------------------------


class SeamOps:
    """Floor operations through the storage seam (``taskhub.storage.Storage``)."""

    def __init__(self, settings: Settings, queue: str, table: str) -> None:
        self.s = Storage(settings)
        self.queue, self.table = queue, table

    async def setup(self) -> None:
        await self.s.create_queue(self.queue)
        await self.s.create_table(self.table)

    async def send(self, body: str) -> None:
        await self.s.send_message(self.queue, body)

    async def receive(self) -> Any:
        got = await self.s.receive_messages(self.queue, max_messages=1, visibility_timeout=30)
        return got[0] if got else None

    async def delete(self, m: Any) -> None:
        await self.s.delete_message(m)

    async def batch(self, rows: list[dict[str, Any]]) -> None:
        await self.s.submit_batch(self.table, [BatchOp("insert", r) for r in rows])

    async def close(self) -> None:
        await self.s.delete_queue(self.queue)
        await self.s.delete_table(self.table)
        await self.s.close()


class RawOps:
    """Floor operations on the SDK's async clients directly, without the seam and without aiohttp's
    per-request environment lookups (``use_env_settings=False``): the raw floor."""

    def __init__(self, conn: str, queue: str, table: str) -> None:
        from azure.data.tables.aio import TableClient
        from azure.storage.queue.aio import QueueClient

        self.q = QueueClient.from_connection_string(conn, queue, use_env_settings=False)
        self.t = TableClient.from_connection_string(conn, table, use_env_settings=False)

    async def setup(self) -> None:
        await self.q.create_queue()
        await self.t.create_table()

    async def send(self, body: str) -> None:
        await self.q.send_message(body, time_to_live=-1)

    async def receive(self) -> Any:
        async for m in self.q.receive_messages(messages_per_page=1, max_messages=1, visibility_timeout=30):
            return m
        return None

    async def delete(self, m: Any) -> None:
        await self.q.delete_message(m.id, m.pop_receipt)

    async def batch(self, rows: list[dict[str, Any]]) -> None:
        await self.t.submit_transaction([("create", r) for r in rows])

    async def close(self) -> None:
        await self.q.delete_queue()
        await self.t.delete_table()
        await self.q.close()
        await self.t.close()


async def measure_floor(ops: SeamOps | RawOps, counts: Counts) -> dict[str, Any]:
    """Queue round trips (send + receive + delete) and table batches of 100 inserts, 1 and N loops."""
    body = "x" * 500  # about the size of an activity message
    await ops.setup()

    async def cycles(n: int) -> None:
        for _ in range(n):
            await ops.send(body)
            while True:
                got = await ops.receive()
                if got is not None:
                    break
            await ops.delete(got)

    payload = "y" * 200
    serial = 0

    async def batches(n: int) -> None:
        nonlocal serial
        for _ in range(n):
            serial += 1
            pk = f"p{serial:06d}"
            rows = [
                {
                    "PartitionKey": pk,
                    "RowKey": f"{i:016X}",
                    "EventType": "TaskCompleted",
                    "EventId": i,
                    "Result": payload,
                }
                for i in range(100)
            ]
            await ops.batch(rows)

    try:
        await cycles(10)  # warm the connections up
        t = time.perf_counter()
        await cycles(counts.floor_queue_seq)
        seq_s = time.perf_counter() - t
        loops = 8
        t = time.perf_counter()
        await asyncio.gather(*(cycles(counts.floor_queue_conc) for _ in range(loops)))
        conc_s = time.perf_counter() - t
        await batches(2)
        t = time.perf_counter()
        await batches(counts.floor_batches_seq)
        bseq_s = time.perf_counter() - t
        bloops = 4
        t = time.perf_counter()
        await asyncio.gather(*(batches(counts.floor_batches_conc) for _ in range(bloops)))
        bconc_s = time.perf_counter() - t
    finally:
        await ops.close()
    return {
        "queue_round_trips_per_s": round(loops * counts.floor_queue_conc / conc_s, 1),
        "queue_round_trips_per_s_sequential": round(counts.floor_queue_seq / seq_s, 1),
        "queue_round_trip_ms_sequential": round(1000 * seq_s / counts.floor_queue_seq, 2),
        "queue_cycles": {
            "sequential": counts.floor_queue_seq,
            "concurrent": f"{loops} x {counts.floor_queue_conc}",
        },
        "queue_message_bytes": len(body),
        "table_batch_entities_per_s": round(bloops * counts.floor_batches_conc * 100 / bconc_s, 1),
        "table_batches_per_s": round(bloops * counts.floor_batches_conc / bconc_s, 1),
        "table_batch_entities_per_s_sequential": round(counts.floor_batches_seq * 100 / bseq_s, 1),
        "table_batches_per_s_sequential": round(counts.floor_batches_seq / bseq_s, 1),
        "table_batches": {
            "sequential": counts.floor_batches_seq,
            "concurrent": f"{bloops} x {counts.floor_batches_conc}",
            "entities_per_batch": 100,
        },
    }


async def measure_floors(run: Run) -> dict[str, Any]:
    """The raw floor (SDK directly) and the same through the storage seam, with the CPU they used."""
    out: dict[str, Any] = {"definition": FLOOR_DEFINITION}
    settings = settings_for(child_env(run.conn, "BenchFloor"), None)
    for key, make in (
        ("raw", lambda: RawOps(run.conn, "bench-floor-raw", "BenchFloorRaw")),
        ("seam", lambda: SeamOps(settings, "bench-floor-seam", "BenchFloorSeam")),
    ):
        cpu0 = (session_cpu_seconds(run.azurite_pid), sum(os.times()[:2]), system_busy_seconds())
        t = time.perf_counter()
        out[key] = await measure_floor(make(), run.counts)
        wall = time.perf_counter() - t
        cpu1 = (session_cpu_seconds(run.azurite_pid), sum(os.times()[:2]), system_busy_seconds())
        out[key]["cpu_utilisation"] = {
            "azurite": round((cpu1[0] - cpu0[0]) / wall, 2),
            "bench_client": round((cpu1[1] - cpu0[1]) / wall, 2),
            "other_processes": round(
                max(0.0, (cpu1[2] - cpu0[2]) - (cpu1[0] - cpu0[0]) - (cpu1[1] - cpu0[1])) / wall, 2
            ),
        }
    out["queue_round_trips_per_s"] = out["raw"]["queue_round_trips_per_s"]
    out["seam_overhead"] = {
        "queue_round_trips_seam_over_raw": round(
            out["seam"]["queue_round_trips_per_s"] / out["raw"]["queue_round_trips_per_s"], 3
        ),
        "table_batches_seam_over_raw": round(
            out["seam"]["table_batch_entities_per_s"] / out["raw"]["table_batch_entities_per_s"], 3
        ),
    }
    return out


# -- workloads ----------------------------------------------------------------------------------------


TERMINAL = {s for s in OrchestrationStatus if s.is_terminal and s is not OrchestrationStatus.CONTINUED_AS_NEW}


async def wait_all(
    client: TaskHubClient, ids: list[str], limit: float, poll: float = 0.25
) -> list[OrchestrationState]:
    """Poll the Instances table (one query a poll) until every instance is terminal."""
    wanted = set(ids)
    deadline = time.monotonic() + limit
    while True:
        found: dict[str, OrchestrationState] = {}
        token = None
        while True:
            page = await client.query_orchestrations(page_size=1000, continuation_token=token)
            for st in page.items:
                if st.instance_id in wanted:
                    found[st.instance_id] = st
            token = page.continuation_token
            if not token:
                break
        done = [st for st in found.values() if st.runtime_status in TERMINAL]
        if len(done) == len(wanted):
            return done
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(done)} of {len(wanted)} orchestrations finished within {limit} s")
        await asyncio.sleep(poll)


async def wait_one(client: TaskHubClient, iid: str, limit: float, poll: float = 0.25) -> OrchestrationState:
    deadline = time.monotonic() + limit
    while True:
        st = await client.get_orchestration_state(iid, fetch_payloads=False)
        if st is not None and st.runtime_status in TERMINAL:
            return st
        if time.monotonic() > deadline:
            raise TimeoutError(f"orchestration {iid} did not finish within {limit} s")
        await asyncio.sleep(poll)


def _ts(d: dt.datetime | None) -> float:
    assert d is not None, "a finished instance without CompletedTime"
    return d.timestamp()


async def w1(client: TaskHubClient, n: int) -> dict[str, Any]:
    t0 = time.time()
    ids = await asyncio.gather(
        *(client.schedule_new_orchestration("HelloSequence5", instance_id=f"w1-{i:04d}") for i in range(n))
    )
    t_scheduled = time.time()
    states = await wait_all(client, list(ids), limit=300)
    t_end = max(_ts(s.completed_at) for s in states)
    ok = sum(1 for s in states if s.runtime_status is OrchestrationStatus.COMPLETED)
    latencies = sorted(_ts(s.completed_at) - _ts(s.created_at) for s in states)
    return {
        "orchestrations": n,
        "completed": ok,
        "activities": 5 * n,
        "elapsed_s": t_end - t0,
        "schedule_s": t_scheduled - t0,
        "figure": n / (t_end - t0),
        "unit": "orchestrations/s",
        "activities_per_s": 5 * n / (t_end - t0),
        "latency_s": {
            "p50": latencies[len(latencies) // 2],
            "p95": latencies[int(len(latencies) * 0.95) - 1],
            "max": latencies[-1],
        },
        "sample_instance": ids[0],
    }


async def w2(client: TaskHubClient, n: int) -> dict[str, Any]:
    t0 = time.time()
    iid = await client.schedule_new_orchestration("Sequence", input=n)
    st = await wait_one(client, iid, limit=300)
    t_end = _ts(st.completed_at)
    return {
        "activities": n,
        "completed": int(st.runtime_status is OrchestrationStatus.COMPLETED),
        "elapsed_s": t_end - t0,
        "figure": n / (t_end - t0),
        "unit": "activities/s",
        "instance": iid,
    }


async def w3(client: TaskHubClient, n: int) -> dict[str, Any]:
    t0 = time.time()
    iid = await client.schedule_new_orchestration("FanOutFanIn", input=n)
    st = await wait_one(client, iid, limit=300)
    t_end = _ts(st.completed_at)
    return {
        "activities": n,
        "completed": int(st.runtime_status is OrchestrationStatus.COMPLETED),
        "elapsed_s": t_end - t0,
        "figure": n / (t_end - t0),
        "unit": "activities/s",
        "instance": iid,
    }


async def verify(client: TaskHubClient, name: str, result: dict[str, Any], n: int) -> str | None:
    """Check the outputs; returns a problem, or None."""
    iid = str(result.get("instance") or result.get("sample_instance"))
    st = await client.get_orchestration_state(iid)
    if st is None or st.runtime_status is not OrchestrationStatus.COMPLETED:
        return f"{iid}: {st.runtime_status.value if st else 'missing'}"
    expected: Any = {
        "W1": ["Hello Tokyo!", "Hello Seattle!", "Hello London!", "Hello Cairo!", "Hello Lima!"],
        "W2": n * (n - 1) // 2,
        "W3": n * (n - 1) // 2,
    }[name]
    if st.output != expected:
        return f"{iid}: output {st.output!r:.80}, expected {expected!r:.80}"
    if result.get("completed") != result.get("orchestrations", 1):
        return f"only {result.get('completed')} of {result.get('orchestrations', 1)} completed"
    return None


def calls_delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    delta = collections.Counter(after)
    delta.subtract(before)
    return {k: v for k, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v}


@dataclass
class Run:
    conn: str
    run_dir: Path
    azurite_pid: int
    counts: Counts
    results_dir: Path
    stamp: str
    profiles: dict[str, Any] = field(default_factory=dict)


async def run_workload(
    run: Run,
    name: str,
    hub: str,
    fn: Callable[[TaskHubClient, int], Awaitable[dict[str, Any]]],
    n: int,
    *,
    profile: bool = False,
) -> dict[str, Any]:
    env = child_env(run.conn, hub, THROUGHPUT_SETTINGS)
    settings = settings_for(env, None)
    worker = await WorkerProcess.start(env, None, run.run_dir / f"worker-{hub}.log")
    try:
        async with TaskHubClient(settings) as client:
            await client.hub.create_if_not_exists()  # not part of the workload (the worker made it)
            before_w = await worker.request("snapshot")
            before_c = dict(client.hub.storage.calls)
            cpu0 = (
                session_cpu_seconds(run.azurite_pid),
                cpu_seconds(worker.pid),
                sum(os.times()[:2]),
                system_busy_seconds(),
            )
            if profile:
                await worker.request("profile_start")
            with MemorySampler(worker.pid) as mem:
                t = time.perf_counter()
                result = await fn(client, n)
                wall = time.perf_counter() - t
            prof = None
            if profile:
                path = run.results_dir / f"{run.stamp}-{name}-worker.prof.txt"
                prof = await worker.request("profile_stop", path=str(path))
            after_w = await worker.request("snapshot")
            after_c = dict(client.hub.storage.calls)
            cpu1 = (
                session_cpu_seconds(run.azurite_pid),
                cpu_seconds(worker.pid),
                sum(os.times()[:2]),
                system_busy_seconds(),
            )
            problem = await verify(client, name, result, n)
        final = await worker.stop()
    except BaseException:
        await worker.kill()
        raise
    w_calls = calls_delta(after_w["calls"], before_w["calls"])
    c_calls = calls_delta(after_c, before_c)
    activities = result["activities"]
    total = sum(w_calls.values()) + sum(c_calls.values())
    ran = after_w["activities_started"] - before_w["activities_started"]
    result.update(
        {
            "hub": hub,
            "wall_s_until_detected": wall,
            "activities_started_by_worker": ran,
            "storage_calls": {
                "total": total,
                "worker": sum(w_calls.values()),
                "client": sum(c_calls.values()),
                "per_activity": total / activities,
                "worker_per_activity": sum(w_calls.values()) / activities,
                "worker_by_op": w_calls,
                "client_by_op": c_calls,
            },
            "cpu_utilisation": {  # CPU seconds / wall seconds while the workload ran (1.0 = one core)
                "azurite": round((cpu1[0] - cpu0[0]) / wall, 2),
                "worker": round((cpu1[1] - cpu0[1]) / wall, 2),
                "bench_client": round((cpu1[2] - cpu0[2]) / wall, 2),
                # everything else on the machine (other users' tests skew the figures when this is high)
                "other_processes": round(
                    max(0.0, (cpu1[3] - cpu0[3]) - sum(cpu1[i] - cpu0[i] for i in range(3))) / wall, 2
                ),
                "loadavg_1min_after": os.getloadavg()[0],
            },
            "worker_memory_mb": {
                "max_vmrss_sampled": round(mem.max_rss_kb / 1024, 1),
                "samples": mem.samples,
                "vmhwm": round(final.get("mem_kb", {}).get("VmHWM", 0) / 1024, 1),
            },
            "worker_settings": {
                k: v for k, v in worker.ready.items() if k not in ("event", "pid", "owned_queues")
            },
            "verified": problem is None,
            "problem": problem,
        }
    )
    if prof is not None:
        result["profile"] = prof
    return result


async def run_w5(run: Run, reps: int, idle: float) -> dict[str, Any]:
    """Idle hub, then a start from another process: time until the first activity starts."""
    host_json = HOST_JSON if HOST_JSON.is_file() else None
    hub = "BenchW5"
    env = child_env(run.conn, hub)
    settings = settings_for(env, host_json)
    note = (
        f"settings from {HOST_JSON.relative_to(REPO)} (hubName and connection overridden by the environment)"
        if host_json
        else f"{HOST_JSON.relative_to(REPO)} does not exist: default settings"
    )
    say(
        f"  W5 uses {note}: maxQueuePollingInterval {settings.storage.max_queue_polling_interval}, "
        f"partitionCount {settings.storage.partition_count}"
    )
    worker = await WorkerProcess.start(env, host_json, run.run_dir / f"worker-{hub}.log")
    samples: list[dict[str, Any]] = []
    try:
        async with TaskHubClient(settings) as client:
            for rep in range(reps):
                say(f"  W5 {rep + 1}/{reps}: hub idle for {idle:.0f} s ...")
                await asyncio.sleep(idle)
                marker = run.run_dir / f"w5-{rep}.txt"
                marker.unlink(missing_ok=True)
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.w5_client",
                    str(marker),
                    *(["--host-json", str(host_json)] if host_json else []),
                    cwd=str(REPO),
                    env=env,
                    stdout=asyncio.subprocess.PIPE,
                )
                stdout, _ = await asyncio.wait_for(proc.communicate(), 120)
                if proc.returncode != 0:
                    raise RuntimeError(f"w5 client failed with exit code {proc.returncode}")
                sent = json.loads(stdout)
                deadline = time.monotonic() + 120
                while not (marker.exists() and marker.read_text().strip()):
                    if time.monotonic() > deadline:
                        raise TimeoutError("W5: the activity did not start within 120 s")
                    await asyncio.sleep(0.01)
                t_activity = float(marker.read_text().split()[0])
                st = await wait_one(client, sent["instance_id"], limit=120)
                sample = {
                    "latency_s": t_activity - sent["t_call"],
                    "schedule_call_s": sent["t_returned"] - sent["t_call"],
                    "after_schedule_returned_s": t_activity - sent["t_returned"],
                    "status": st.runtime_status.value,
                    "client_calls": sent["calls"],
                }
                say(
                    f"    W5 {rep + 1}: {sample['latency_s']:.3f} s (schedule call {sample['schedule_call_s']:.3f} s)"
                )
                samples.append(sample)
        await worker.stop()
    except BaseException:
        await worker.kill()
        raise
    lat = [s["latency_s"] for s in samples]
    return {
        "figure": statistics.median(lat),
        "unit": "s (median)",
        "latencies_s": lat,
        "max_s": max(lat),
        "idle_s": idle,
        "repetitions": reps,
        "samples": samples,
        "hub": hub,
        "settings_note": note,
        "host_json": str(host_json) if host_json else None,
        "host_json_content": json.loads(host_json.read_text()) if host_json else None,
        "max_queue_polling_interval_s": settings.storage.max_queue_polling_interval.total_seconds(),
    }


# -- report -------------------------------------------------------------------------------------------


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    verdicts = []
    for name, (op, value, unit) in TARGETS.items():
        r = results["workloads"].get(name)
        if not r or "figure" not in r:
            continue
        ok = r["figure"] >= value and r.get("verified", True)
        verdicts.append(
            {
                "key": name,
                "target": f"{name} {op} {value:g} {unit}",
                "actual": round(r["figure"], 2),
                "pass": ok,
            }
        )
        per = r["storage_calls"]["per_activity"]
        verdicts.append(
            {
                "key": name + ".calls",
                "target": f"{name} <= {MAX_CALLS_PER_ACTIVITY:g} storage calls per activity round trip",
                "actual": round(per, 2),
                "pass": per <= MAX_CALLS_PER_ACTIVITY,
            }
        )
    r1 = results["workloads"].get("W1")
    if r1 and "worker_memory_mb" in r1:
        mb = max(r1["worker_memory_mb"]["vmhwm"], r1["worker_memory_mb"]["max_vmrss_sampled"])
        verdicts.append(
            {
                "key": "W1.memory",
                "target": f"W1 worker memory < {MAX_W1_WORKER_MB:g} MB (VmHWM)",
                "actual": mb,
                "pass": mb < MAX_W1_WORKER_MB,
            }
        )
    r5 = results["workloads"].get("W5")
    if r5 is not None and "skipped" not in r5:
        verdicts.append(
            {
                "key": "W5",
                "target": "W5 reported",
                "actual": round(r5["figure"], 3) if "figure" in r5 else None,
                "pass": "figure" in r5,
            }
        )
    return verdicts


def print_table(results: dict[str, Any]) -> None:
    floor = results["floor"]
    f = floor["queue_round_trips_per_s"]
    if f <= 0:
        f = float("nan")
    rows: list[tuple[str, float, str, float, float | None, str]] = []
    for key in ("raw", "seam"):
        fl = floor[key]
        rows += [
            (
                f"floor {key}: queue send+receive+delete x8",
                fl["queue_round_trips_per_s"],
                "round trips/s",
                fl["queue_round_trips_per_s"] / f,
                None,
                "the floor" if key == "raw" else "",
            ),
            (
                f"floor {key}: same, 1 loop",
                fl["queue_round_trips_per_s_sequential"],
                "round trips/s",
                fl["queue_round_trips_per_s_sequential"] / f,
                None,
                "",
            ),
            (
                f"floor {key}: table batch of 100 x4",
                fl["table_batch_entities_per_s"],
                "entities/s",
                fl["table_batch_entities_per_s"] / f,
                None,
                "",
            ),
            (
                f"floor {key}: table batch of 100, 1 loop",
                fl["table_batch_entities_per_s_sequential"],
                "entities/s",
                fl["table_batch_entities_per_s_sequential"] / f,
                None,
                "",
            ),
        ]
    verdict = {v["key"]: v for v in results["targets"]}
    labels = {
        "W1": "W1 concurrent HelloSequence5",
        "W2": "W2 100 sequential activities",
        "W3": "W3 fan-out/in",
        "W5": "W5 idle start -> 1st activity",
    }
    for name in ("W1", "W2", "W3", "W5"):
        r = results["workloads"].get(name)
        if r is None:
            continue
        if "skipped" in r:
            rows.append((labels[name], float("nan"), "skipped", float("nan"), None, r["skipped"]))
            continue
        if "figure" not in r:
            rows.append((labels[name], float("nan"), "FAILED", float("nan"), None, r.get("error", "")[:60]))
            continue
        label = {
            "W1": f"W1 {r.get('orchestrations')} x HelloSequence5",
            "W2": f"W2 {r.get('activities')} sequential activities",
            "W3": f"W3 fan-out/in of {r.get('activities')}",
        }.get(name, labels[name])
        per = r["storage_calls"]["per_activity"] if "storage_calls" in r else None
        target = ""
        if name in TARGETS:
            op, value, _unit = TARGETS[name]
            v = verdict.get(name)
            target = f"{op}{value:g} {'PASS' if v and v['pass'] else 'MISS'}"
            vc = verdict.get(name + ".calls")
            if vc:
                target += f"; calls<=10 {'PASS' if vc['pass'] else 'MISS'}"
        elif name == "W5":
            target = "reported"
        ratio = r["figure"] / f if name != "W5" else float("nan")
        rows.append((label, r["figure"], r["unit"], ratio, per, target))
    say()
    say(f"{'workload':<42} {'figure':>9} {'unit':<18} {'/floor':>7} {'calls/act':>9}  target")
    say("-" * 110)
    for label, fig, unit, ratio, per, target in rows:
        ratio_s = "" if ratio != ratio else f"{ratio:7.3f}"
        per_s = "" if per is None else f"{per:9.2f}"
        fig_s = "" if fig != fig else f"{fig:9.2f}"
        say(f"{label:<42} {fig_s:>9} {unit:<18} {ratio_s:>7} {per_s:>9}  {target}")
    say()
    say(FLOOR_DEFINITION)
    say(CALLS_DEFINITION + ".")
    r1 = results["workloads"].get("W1")
    if r1 and "worker_memory_mb" in r1:
        m = r1["worker_memory_mb"]
        say(
            f"W1 worker memory: VmHWM {m['vmhwm']} MB, max sampled VmRSS {m['max_vmrss_sampled']} MB "
            f"(target < {MAX_W1_WORKER_MB:g} MB)"
        )
    for name in ("W1", "W2", "W3"):
        r = results["workloads"].get(name)
        if r and "storage_calls" in r:
            sc, cpu = r["storage_calls"], r["cpu_utilisation"]
            ops = ", ".join(f"{k} {v / r['activities']:.2f}" for k, v in list(sc["worker_by_op"].items())[:8])
            cops = ", ".join(
                f"{k} {v / r['activities']:.2f}" for k, v in list(sc["client_by_op"].items())[:4]
            )
            say(
                f"{name} per activity: worker {sc['worker_per_activity']:.2f} [{ops}]; client "
                f"{sc['client'] / r['activities']:.2f} [{cops}]"
            )
            say(
                f"{name} CPU (cores busy): azurite {cpu['azurite']}, worker {cpu['worker']}, "
                f"bench client {cpu['bench_client']}, other processes {cpu['other_processes']}"
                + (
                    "  << the machine was busy with other work: figures are low"
                    if cpu["other_processes"] > 0.3
                    else ""
                )
            )
    say()
    misses = [v for v in results["targets"] if not v["pass"]]
    for v in results["targets"]:
        say(f"  {'PASS' if v['pass'] else 'MISS'}  {v['target']}: {v['actual']}")
    if misses:
        say(f"{len(misses)} target(s) missed.")


# -- main ---------------------------------------------------------------------------------------------


async def run_all(ns: argparse.Namespace, counts: Counts, out: Path) -> dict[str, Any]:
    ctl = load_azurite_ctl()
    # SIGTERM/SIGINT cancel the run, so that the finally below stops Azurite and the worker processes.
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    assert me is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, me.cancel)
    run_dir = Path(tempfile.mkdtemp(prefix="taskhub-bench-"))
    stamp = out.stem
    results: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(),
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "quick": ns.quick,
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "azurite": _azurite_version(),
            "mem_total_mb": _mem_total_mb(),
            "loadavg_at_start": list(os.getloadavg()),
        },
        "settings": {
            "azurite": "in memory (--inMemoryPersistence), free ports, started by the bench",
            "W1-W3": "no host.json; defaults plus "
            + ", ".join(f"{k}={v}" for k, v in THROUGHPUT_SETTINGS.items())
            + " (for throughput); each workload on its own hub and its own worker process",
            "W5": "the repository's host.json (hubName and connection overridden)",
            "counts": counts.__dict__,
            "repeat": f"W1-W3 run {ns.repeat} time(s) each; the best verified run is reported",
            "quiet_wait_s": ns.quiet_wait,
            "calls_definition": CALLS_DEFINITION,
        },
        "workloads": {},
    }
    other = await other_load(2.0)
    results["machine"]["other_load_cores_before"] = round(other, 2)
    if other > 0.3:
        say(
            f"bench: WARNING: other processes keep {other:.1f} of {os.cpu_count()} cores busy; "
            "the figures will be low (the JSON records it per workload as cpu_utilisation.other_processes)"
        )
    say(f"bench: starting Azurite (in memory) in {run_dir}")
    info = ctl.start(run_dir, in_memory=True, ports=(0, 0, 0))
    run = Run(info.connection_string, run_dir, info.pid, counts, out.parent, stamp)
    results["settings"]["azurite_ports"] = {
        "blob": info.blob_port,
        "queue": info.queue_port,
        "table": info.table_port,
    }
    try:
        say("bench: floor (raw Azurite throughput: the SDK directly, and through the storage seam) ...")
        results["floor"] = fl = await measure_floors(run)
        for key in ("raw", "seam"):
            f = fl[key]
            say(
                f"  {key}: queue round trips/s {f['queue_round_trips_per_s']} (8 loops), "
                f"{f['queue_round_trips_per_s_sequential']} (1 loop); table batch entities/s "
                f"{f['table_batch_entities_per_s']} (4 loops), {f['table_batch_entities_per_s_sequential']} (1 loop)"
            )
        plan = [
            ("W1", "BenchW1", w1, counts.w1),
            ("W2", "BenchW2", w2, counts.w2),
            ("W3", "BenchW3", w3, counts.w3),
        ]
        for name, hub, fn, n in plan:
            if ns.only and name not in ns.only:
                continue
            runs: list[dict[str, Any]] = []
            for rep in range(ns.repeat):
                say(f"bench: {name} (n={n}){f' run {rep + 1}/{ns.repeat}' if ns.repeat > 1 else ''} ...")
                await wait_quiet(ns.quiet_wait)
                try:
                    r = await run_workload(run, name, hub + (f"R{rep + 1}" if rep else ""), fn, n)
                    runs.append(r)
                    say(
                        f"  {name}: {r['figure']:.2f} {r['unit']} in {r['elapsed_s']:.2f} s, "
                        f"{r['storage_calls']['per_activity']:.2f} storage calls/activity, other processes "
                        f"{r['cpu_utilisation']['other_processes']} cores"
                        + ("" if r["verified"] else f"; NOT VERIFIED: {r['problem']}")
                    )
                except Exception as err:  # record, go on with the next workload
                    runs.append({"error": f"{type(err).__name__}: {err}"})
                    say(f"  {name} FAILED: {type(err).__name__}: {err}")
            good = [r for r in runs if "figure" in r and r["verified"]]
            best = max(good, key=lambda r: r["figure"]) if good else runs[-1]
            if len(runs) > 1:
                best = {
                    **best,
                    "best_of": len(runs),
                    "all_figures": [r.get("figure") for r in runs],
                    "all_other_processes": [
                        r.get("cpu_utilisation", {}).get("other_processes") for r in runs
                    ],
                }
            results["workloads"][name] = best
        if not ns.skip_w5 and (not ns.only or "W5" in ns.only):
            say(f"bench: W5 ({ns.w5_reps or counts.w5_reps} x {ns.w5_idle:.0f} s idle) ...")
            try:
                results["workloads"]["W5"] = await run_w5(run, ns.w5_reps or counts.w5_reps, ns.w5_idle)
            except Exception as err:
                results["workloads"]["W5"] = {"error": f"{type(err).__name__}: {err}"}
                say(f"  W5 FAILED: {type(err).__name__}: {err}")
        elif ns.skip_w5:
            results["workloads"]["W5"] = {"skipped": "--skip-w5"}
            results["settings"]["W5"] = "skipped (--skip-w5)"
        results["targets"] = judge(results)
        if not ns.no_profile:
            missed = {
                v["key"].split(".")[0]
                for v in results["targets"]
                if not v["pass"] and v["key"] != "W1.memory"
            }
            for name, hub, fn, n in plan:
                if name in missed and name in results["workloads"] and "figure" in results["workloads"][name]:
                    say(
                        f"bench: {name} missed a target: running it again under cProfile (worker event loop) ..."
                    )
                    try:
                        r = await run_workload(run, name, hub + "Prof", fn, n, profile=True)
                        results["profiles"] = results.get("profiles", {})
                        results["profiles"][name] = {
                            "note": "separate run with cProfile on (slower; figures not used)",
                            "figure_under_profile": r["figure"],
                            "path": r["profile"]["path"],
                            "by_tottime": r["profile"]["by_tottime"],
                            "by_cumtime": r["profile"]["by_cumtime"],
                        }
                        print_profile(name, r["profile"])
                    except Exception as err:
                        say(f"  profiling {name} failed: {type(err).__name__}: {err}")
    finally:
        ctl.stop(run_dir)
        keep_logs(run_dir, out.parent / f"{stamp}-logs")
        shutil.rmtree(run_dir, ignore_errors=True)
    results["finished_at"] = dt.datetime.now(dt.UTC).isoformat()
    return results


def print_profile(name: str, prof: dict[str, Any]) -> None:
    """The top of a worker profile: own time without the idle epoll wait, then our own functions."""
    idle = sum(r["tottime_s"] for r in prof["by_tottime"] if "epoll" in r["function"])
    say(f"  {name} worker profile ({prof['path']}); idle in epoll {idle:.2f} s; top own time:")
    for row in [r for r in prof["by_tottime"] if "epoll" not in r["function"]][:10]:
        say(f"    {row['tottime_s']:8.3f} s  {row['function']}")
    ours = [r for r in prof["by_cumtime"] if r["function"].startswith(("taskhub/", "worker/"))]
    say(f"  {name} top cumulative (taskhub/, worker/; coroutine time excludes awaiting):")
    for row in ours[:8]:
        say(f"    {row['cumtime_s']:8.3f} s  {row['function']}")


def keep_logs(run_dir: Path, dest: Path) -> None:
    """Copy the worker logs that have something in them next to the results."""
    for log in sorted(run_dir.glob("worker-*.log")):
        if log.stat().st_size:
            dest.mkdir(exist_ok=True)
            shutil.copy(log, dest / log.name)


def _azurite_version() -> str | None:
    try:
        return str(json.loads((REPO / "azurite/node_modules/azurite/package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _mem_total_mb() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            return int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench", description="Task hub benchmark on a fresh in-memory Azurite"
    )
    p.add_argument("--quick", action="store_true", help="smaller counts (a smoke run); W5 once")
    p.add_argument("--out", type=Path, help="result JSON (default bench/results/<timestamp>.json)")
    p.add_argument(
        "--skip-w5", action="store_true", help="skip W5 (it needs 60+ s of idle time per repetition)"
    )
    p.add_argument(
        "--w5-idle", type=float, default=60.0, help="idle seconds before each W5 start (default 60)"
    )
    p.add_argument("--w5-reps", type=int, default=0, help="W5 repetitions (default 3, 1 with --quick)")
    p.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="run W1-W3 N times each and report the best verified run (default 3, 1 with --quick)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each of W1-W3, wait up to S seconds for other processes to use < 0.3 cores (default 60)",
    )
    p.add_argument("--no-profile", action="store_true", help="do not re-run missed workloads under cProfile")
    p.add_argument(
        "--only",
        type=lambda s: {x.strip().upper() for x in s.split(",")},
        help="comma-separated subset of W1,W2,W3,W5 (the floor always runs)",
    )
    ns = p.parse_args(argv)
    counts = QUICK if ns.quick else FULL
    ns.repeat = ns.repeat or (1 if ns.quick else 3)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out: Path = ns.out or RESULTS_DIR / f"{stamp}.json"
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        results = asyncio.run(run_all(ns, counts, out))
    except (asyncio.CancelledError, KeyboardInterrupt):
        say("bench: interrupted (Azurite and the worker processes were stopped); no results saved")
        return 130
    out.write_text(json.dumps(_round(results), indent=2, default=str) + "\n")
    print_table(results)
    say(f"results: {out}")
    return 0
