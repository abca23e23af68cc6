"""The benchmark driver: ``python -m bench [--quick] [--out PATH] [--skip-w5]`` (see bench/README.md).

One run starts its own Azurite (on disk in the run directory) on free ports (``azurite/azurite_ctl.py``) in a temporary run
directory, measures the floor (raw queue round trips and table batch writes through the storage seam),
runs W1, W2, W3 and W5, each on its own task hub with its own worker process
(``python -m bench.worker_proc``), prints a table and saves everything as JSON, then stops Azurite.

Storage calls are the counts of ``taskhub.storage.Storage.calls``: the worker process reports its own
(before and after each workload) and the client side is this process's ``TaskHubClient``.

The parts: ``bench.procs`` (Azurite, worker processes, CPU and memory readings), ``bench.floor`` (the
floor), ``bench.drivers`` (W1-W3 and W5), ``bench.report`` (targets, table, JSON); ``bench.common``
holds what they share. This module runs them in order and holds the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    CALLS_DEFINITION,
    FULL,
    QUICK,
    REPO,
    RESULTS_DIR,
    THROUGHPUT_SETTINGS,
    Counts,
    Run,
    say,
)
from bench.drivers import c1, c2, run_w5, run_workload, w1, w2, w3
from bench.entity_drivers import e1, e2
from bench.floor import measure_floors
from bench.procs import load_azurite_ctl, other_load, start_azurite, wait_quiet
from bench.report import judge, keep_logs, print_profile, print_table, save_results
from bench.telemetry import TELEMETRY_ENV


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
            "azurite": "on disk (--location in the run directory), free ports, started by the bench",
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
    say(f"bench: starting Azurite (on disk) in {run_dir}")
    info = start_azurite(run_dir)
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
            ("E1", "BenchE1", e1, counts.e1),
            ("E2", "BenchE2", e2, counts.e2),
            ("C1", "BenchC1", c1, counts.c1),
            ("C2", "BenchC2", c2, counts.c2),
            # W1-W3 again, their functions on a durabletask-python worker through a taskhub sidecar
            ("W1-SDK", "BenchW1Sdk", w1, counts.w1),
            ("W2-SDK", "BenchW2Sdk", w2, counts.w2),
            ("W3-SDK", "BenchW3Sdk", w3, counts.w3),
        ]
        for name, hub, fn, n in plan:
            if ns.only and name not in ns.only:
                continue
            sidecar = name.endswith("-SDK")
            if sidecar and ns.skip_sidecar:
                results["workloads"][name] = {"skipped": ns.skip_sidecar}
                continue
            runs: list[dict[str, Any]] = []
            for rep in range(ns.repeat if name.startswith("W") else 1):  # E1, E2, C1, C2 once
                say(f"bench: {name} (n={n}){f' run {rep + 1}/{ns.repeat}' if ns.repeat > 1 else ''} ...")
                await wait_quiet(ns.quiet_wait)
                try:
                    r = await run_workload(
                        run, name, hub + (f"R{rep + 1}" if rep else ""), fn, n, sidecar=sidecar
                    )
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
        for k in ns.scale:  # W1 on k worker processes of one hub (docs/scaling.md)
            name = f"W1x{k}"
            if ns.only and name.upper() not in ns.only:
                continue
            say(f"bench: {name} (W1 on {k} worker processes, n={counts.w1}) ...")
            await wait_quiet(ns.quiet_wait)
            try:
                r = await run_workload(run, name, f"BenchW1x{k}", w1, counts.w1, workers=k)
                say(
                    f"  {name}: {r['figure']:.2f} {r['unit']}, {r['storage_calls']['per_activity']:.2f} storage "
                    f"calls/activity, other processes {r['cpu_utilisation']['other_processes']} cores"
                )
            except Exception as err:
                r = {"error": f"{type(err).__name__}: {err}"}
                say(f"  {name} FAILED: {type(err).__name__}: {err}")
            results["workloads"][name] = r
        if not ns.skip_w5 and (not ns.only or "W5" in ns.only):
            say(f"bench: W5 ({ns.w5_reps or counts.w5_reps} x {ns.w5_idle:.0f} s idle) ...")
            try:
                results["workloads"]["W5"] = await run_w5(run, ns.w5_reps or counts.w5_reps, ns.w5_idle)
            except Exception as err:
                results["workloads"]["W5"] = {"error": f"{type(err).__name__}: {err}"}
                say(f"  W5 FAILED: {type(err).__name__}: {err}")
        if ns.w5_table and not ns.skip_w5 and (not ns.only or "W5" in ns.only):
            say("bench: W5 with the Partitions table (useTablePartitionManagement) ...")
            try:
                results["workloads"]["W5-table"] = await run_w5(
                    run, ns.w5_reps or counts.w5_reps, ns.w5_idle, table=True
                )
            except Exception as err:
                results["workloads"]["W5-table"] = {"error": f"{type(err).__name__}: {err}"}
                say(f"  W5-table FAILED: {type(err).__name__}: {err}")
        if ns.skip_w5:
            results["workloads"]["W5"] = {"skipped": "--skip-w5"}
            results["settings"]["W5"] = "skipped (--skip-w5)"
        results["targets"] = judge(results)
        if not ns.no_profile:
            missed = {  # the workloads of missed targets, issue 13's included ("issue.W2.calls" -> W2)
                v["key"].removeprefix("issue.").split(".")[0]
                for v in results["targets"]
                if not v["pass"] and v["key"] != "W1.memory"
            }
            for name, hub, fn, n in plan:
                if name in missed and name in results["workloads"] and "figure" in results["workloads"][name]:
                    say(
                        f"bench: {name} missed a target: running it again under cProfile (worker event loop) ..."
                    )
                    try:
                        r = await run_workload(
                            run, name, hub + "Prof", fn, n, profile=True, sidecar=name.endswith("-SDK")
                        )
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Task hub benchmark on a fresh Azurite (on disk, in a temporary directory)",
    )
    p.add_argument("--quick", action="store_true", help="smaller counts (a smoke run); W5 once")
    p.add_argument("--out", type=Path, help="result JSON (default bench/results/<timestamp>.json)")
    p.add_argument(
        "--skip-w5", action="store_true", help="skip W5 (it needs 60+ s of idle time per repetition)"
    )
    p.add_argument(
        "--w5-idle", type=float, default=60.0, help="idle seconds before each W5 start (default 60)"
    )
    p.add_argument(
        "--w5-table",
        action="store_true",
        help="also run W5 on a hub balanced with the Partitions table (reported as W5-table)",
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
        "--skip-sidecar",
        action="store_const",
        const="--skip-sidecar",
        help="skip W1-SDK, W2-SDK, W3-SDK (W1-W3 on a durabletask-python worker through a taskhub sidecar)",
    )
    p.add_argument(
        "--only",
        type=lambda s: {x.strip().upper() for x in s.split(",")},
        help="comma-separated subset of W1,W2,W3,E1,E2,C1,C2,W1-SDK,W2-SDK,W3-SDK,W1X2,W1X4,W5 "
        "(the floor always runs)",
    )
    p.add_argument(
        "--scale",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=None,
        help="also run W1 on these numbers of worker processes (default 2,4; none with --quick)",
    )
    p.add_argument(
        "--telemetry",
        action="store_true",
        help="worker processes with traces (OpenTelemetry SDK, spans dropped) and metrics on; compare "
        "worker_cpu_s_per_100_activities with a run without it (python -m bench.telemetry: the hooks alone)",
    )
    ns = p.parse_args(argv)
    if not ns.skip_sidecar and importlib.util.find_spec("durabletask") is None:
        ns.skip_sidecar = "the durabletask package is not installed (pip install 'taskhub-durable[sidecar]')"
    if ns.telemetry:
        os.environ[TELEMETRY_ENV] = "1"  # the worker processes inherit it (bench.procs.child_env)
    if ns.scale is None:
        ns.scale = [] if ns.quick else [2, 4]
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
    results.setdefault("settings", {})["telemetry"] = bool(ns.telemetry)
    save_results(out, results)
    print_table(results)
    say(f"results: {out}")
    return 0
