"""The workload drivers: W1-W3 (:func:`w1`, :func:`w2`, :func:`w3`, each run by :func:`run_workload`
on a hub and a worker process of its own, with storage calls, CPU and memory measured) and W5
(:func:`run_w5`). The orchestrations they start are in ``bench.workloads``.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.common import HOST_JSON, REPO, THROUGHPUT_SETTINGS, Run, say
from bench.procs import (
    MemorySampler,
    SdkWorkerProcess,
    WorkerProcess,
    child_env,
    cpu_seconds,
    session_cpu_seconds,
    settings_for,
    system_busy_seconds,
)
from taskhub.client.async_client import TaskHubClient
from taskhub.client.status import OrchestrationState
from taskhub.format.history import OrchestrationStatus, TaskScheduledEvent

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


async def _one_orchestration(client: TaskHubClient, name: str, n: int, limit: float) -> dict[str, Any]:
    """Start one orchestration of ``n`` activities and time it to its completion (W2, W3)."""
    t0 = time.time()
    iid = await client.schedule_new_orchestration(name, input=n)
    st = await wait_one(client, iid, limit=limit)
    t_end = _ts(st.completed_at)
    return {
        "activities": n,
        "completed": int(st.runtime_status is OrchestrationStatus.COMPLETED),
        "elapsed_s": t_end - t0,
        "figure": n / (t_end - t0),
        "unit": "activities/s",
        "instance": iid,
    }


async def w2(client: TaskHubClient, n: int, limit: float = 300) -> dict[str, Any]:
    return await _one_orchestration(client, "Sequence", n, limit)


async def w3(client: TaskHubClient, n: int, limit: float = 300) -> dict[str, Any]:
    return await _one_orchestration(client, "FanOutFanIn", n, limit)


async def c1(client: TaskHubClient, n: int) -> dict[str, Any]:
    """Cost as work grows: ``n`` sequential activities; the rate of the last 100 / the rate of the first 100
    (from the TaskScheduled timestamps of the history: each is the moment of the episode that scheduled it)."""
    r = await w2(client, n, limit=900)
    events = await client.get_orchestration_history(r["instance"])
    times = [e.timestamp.timestamp() for e in events if isinstance(e, TaskScheduledEvent) and e.timestamp]
    k = min(100, len(times) - 1)
    first = k / max(times[k] - times[0], 1e-6)
    last = k / max(times[-1] - times[-1 - k], 1e-6)
    r.update(first_100_per_s=first, last_100_per_s=last, growth_ratio=last / first, window=k)
    return r


async def c2(client: TaskHubClient, n: int) -> dict[str, Any]:
    """Cost as work grows: a fan-out of ``n`` (W3's workload, 10 times wider)."""
    return await w3(client, n, limit=900)


async def verify(client: TaskHubClient, name: str, result: dict[str, Any], n: int) -> str | None:
    """Check the outputs; returns a problem, or None."""
    if name.startswith("E"):  # the entity workloads check their own outcome (bench.entity_drivers)
        problem: str | None = result.get("problem")
        return problem
    iid = str(result.get("instance") or result.get("sample_instance"))
    st = await client.get_orchestration_state(iid)
    if st is None or st.runtime_status is not OrchestrationStatus.COMPLETED:
        return f"{iid}: {st.runtime_status.value if st else 'missing'}"
    expected: Any = {
        "W1": ["Hello Tokyo!", "Hello Seattle!", "Hello London!", "Hello Cairo!", "Hello Lima!"],
        "W2": n * (n - 1) // 2,
        "W3": n * (n - 1) // 2,
        "C1": n * (n - 1) // 2,
        "C2": n * (n - 1) // 2,
    }[name.split("x")[0].removesuffix("-SDK")]  # W1x2, W1x4: W1 on more worker processes; W1-SDK: W1
    if st.output != expected:
        return f"{iid}: output {st.output!r:.80}, expected {expected!r:.80}"
    if result.get("completed") != result.get("orchestrations", 1):
        return f"only {result.get('completed')} of {result.get('orchestrations', 1)} completed"
    return None


def calls_delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    delta = collections.Counter(after)
    delta.subtract(before)
    return {k: v for k, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v}


async def run_workload(
    run: Run,
    name: str,
    hub: str,
    fn: Callable[[TaskHubClient, int], Awaitable[dict[str, Any]]],
    n: int,
    *,
    profile: bool = False,
    workers: int = 1,
    sidecar: bool = False,
) -> dict[str, Any]:
    """One workload on a hub of its own. ``sidecar``: the worker process is a ``taskhub sidecar`` and the
    functions run on a durabletask-python worker connected to it (``bench.sdk_worker``); the figures
    named ``worker`` are then the sidecar's, ``sdk_worker`` the SDK worker's."""
    env = child_env(run.conn, hub, THROUGHPUT_SETTINGS)
    settings = settings_for(env, None)
    if workers > 1:
        fleet = await start_fleet(run, env, hub, workers, settings.storage.partition_count)
    else:
        fleet = [await WorkerProcess.start(env, None, run.run_dir / f"worker-{hub}.log", sidecar=sidecar)]
    worker = fleet[0]
    sdk: SdkWorkerProcess | None = None
    try:
        if sidecar:
            address = f"127.0.0.1:{worker.ready['port']}"
            sdk = await SdkWorkerProcess.connect(env, address, run.run_dir / f"worker-{hub}-sdk.log")
        async with TaskHubClient(settings) as client:
            await client.service.hub.create_if_not_exists()  # not part of the workload (the worker made it)
            before_w = await fleet_snapshot(fleet)
            before_c = dict(client.service.hub.storage.calls)
            cpu0 = _cpu(run, fleet, sdk)
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
            after_w = await fleet_snapshot(fleet)
            after_c = dict(client.service.hub.storage.calls)
            cpu1 = _cpu(run, fleet, sdk)
            problem = await verify(client, name, result, n)
        if sdk is not None:
            await sdk.stop()
        final = (await asyncio.gather(*(w.stop() for w in fleet)))[0]
    except BaseException:
        await asyncio.gather(*(w.kill() for w in [*fleet, *([sdk] if sdk else [])]))
        raise
    w_calls = calls_delta(after_w["calls"], before_w["calls"])
    c_calls = calls_delta(after_c, before_c)
    activities = result["activities"]
    total = sum(w_calls.values()) + sum(c_calls.values())
    ran = after_w["activities_started"] - before_w["activities_started"]
    used = {k: cpu1[k] - cpu0[k] for k in cpu0}
    result.update(
        {
            "hub": hub,
            "worker_processes": workers,
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
                "azurite": round(used["azurite"] / wall, 2),
                "worker": round(used["worker"] / wall, 2),
                **({"sdk_worker": round(used["sdk_worker"] / wall, 2)} if sdk else {}),
                "bench_client": round(used["bench_client"] / wall, 2),
                # everything else on the machine (other users' tests skew the figures when this is high)
                "other_processes": round(
                    max(0.0, used["system"] - sum(v for k, v in used.items() if k != "system")) / wall, 2
                ),
                "loadavg_1min_after": os.getloadavg()[0],
            },
            "worker_cpu_s_per_100_activities": round(used["worker"] * 100 / activities, 3),
            **(
                {
                    "sidecar": True,
                    "sdk_worker_cpu_s_per_100_activities": round(used["sdk_worker"] * 100 / activities, 3),
                }
                if sdk
                else {}
            ),
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


def _cpu(run: Run, fleet: list[WorkerProcess], sdk: SdkWorkerProcess | None) -> dict[str, float]:
    """CPU seconds so far: Azurite, the worker processes, the SDK worker, this process, the machine."""
    return {
        "azurite": session_cpu_seconds(run.azurite_pid),
        "worker": sum(cpu_seconds(w.pid) for w in fleet),
        "sdk_worker": cpu_seconds(sdk.pid) if sdk else 0.0,
        "bench_client": sum(os.times()[:2]),
        "system": system_busy_seconds(),
    }


async def start_fleet(
    run: Run, env: dict[str, str], hub: str, n: int, partitions: int
) -> list[WorkerProcess]:
    """``n`` worker processes on one hub, once the control queues are spread over them (each owns at
    least one when ``n`` <= partitions; waits up to 180 s, then goes on and says so)."""
    fleet = [
        await WorkerProcess.start(env, None, run.run_dir / f"worker-{hub}-{i}.log", ready_timeout=0)
        for i in range(n)
    ]
    deadline = time.monotonic() + 180
    while True:
        owned = [len((await w.request("snapshot"))["owned_queues"]) for w in fleet]
        if sum(owned) == partitions and all(o >= 1 for o in owned[: min(n, partitions)]):
            say(f"  {n} worker processes own {owned} control queues")
            return fleet
        if time.monotonic() > deadline:
            say(f"  warning: the queues did not spread over {n} workers within 180 s: {owned}")
            return fleet
        await asyncio.sleep(1.0)


async def fleet_snapshot(fleet: list[WorkerProcess]) -> dict[str, Any]:
    """The snapshots of several worker processes, storage calls and activities summed."""
    snaps = [await w.request("snapshot") for w in fleet]
    calls: collections.Counter[str] = collections.Counter()
    for snap in snaps:
        calls.update(snap["calls"])
    return {
        **snaps[0],
        "calls": dict(calls),
        "activities_started": sum(x["activities_started"] for x in snaps),
    }


async def run_w5(run: Run, reps: int, idle: float, *, table: bool = False) -> dict[str, Any]:
    """Idle hub, then a start from another process: time until the first activity starts. ``table``:
    the hub's partitions are balanced with the Partitions table (``useTablePartitionManagement``)."""
    host_json = HOST_JSON if HOST_JSON.is_file() else None
    hub = "BenchW5Table" if table else "BenchW5"
    extra = {"storageProvider__useTablePartitionManagement": "true"} if table else None
    env = child_env(run.conn, hub, extra)
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
                calls0 = (await worker.request("snapshot"))["calls"]
                await asyncio.sleep(idle)
                idle_calls = calls_delta((await worker.request("snapshot"))["calls"], calls0)
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
                    "idle_worker_calls": idle_calls,
                    "idle_worker_calls_per_hour": round(sum(idle_calls.values()) * 3600 / idle),
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
        "partition_manager": "table" if table else "blobs",
        "settings_note": note,
        "host_json": str(host_json) if host_json else None,
        "host_json_content": json.loads(host_json.read_text()) if host_json else None,
        "max_queue_polling_interval_s": settings.storage.max_queue_polling_interval.total_seconds(),
        "idle_worker_calls_per_hour": statistics.median(s["idle_worker_calls_per_hour"] for s in samples),
    }
