"""Reporting: the verdicts against the targets, the table (figures, ratios to the floor, storage
calls per activity, CPU), the profile summaries, and the results JSON with the worker logs next to it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench.common import (
    CALLS_DEFINITION,
    FLOOR_DEFINITION,
    ISSUE_TARGETS,
    MAX_CALLS_PER_ACTIVITY,
    MAX_W1_WORKER_MB,
    TARGETS,
    say,
)

SDK_NAMES = ("W1-SDK", "W2-SDK", "W3-SDK")
"""W1-W3 with their functions on a durabletask-python worker through a ``taskhub sidecar``."""


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
    verdicts.extend(_issue_verdicts(results["workloads"]))
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


def _issue_verdicts(work: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 13's targets (keys ``issue.<figure>``); a missed one, like any, gets a profile run."""

    def figure(key: str) -> float | None:
        name, _, part = key.partition(".")
        r = work.get(name)
        if not r or "figure" not in r:
            return None
        if part == "calls":
            return float(r["storage_calls"]["per_activity"])
        if part == "growth":
            return float(r["growth_ratio"])
        return float(r["figure"])

    out = []
    for key, (op, value) in ISSUE_TARGETS.items():
        actual = figure(key)
        if actual is None:
            continue
        ok = actual >= value if op == ">=" else actual <= value
        out.append(
            {
                "key": f"issue.{key}",
                "target": f"issue 13: {key} {op} {value:g}",
                "actual": round(actual, 3),
                "pass": ok,
            }
        )
    c2, w3 = figure("C2"), figure("W3")
    if c2 is not None and w3 is not None:
        out.append(
            {
                "key": "issue.C2",
                "target": f"issue 13: C2 (fan-out of 5,000) >= W3's rate {w3:.1f}",
                "actual": round(c2, 2),
                "pass": c2 >= w3,
            }
        )
    return out


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
        "E1": "E1 client signals to one counter",
        "E2": "E2 entity calls over 100 counters",
        "C1": "C1 sequential activities (cost growth)",
        "C2": "C2 fan-out/in (cost growth)",
        "W1x2": "W1 on 2 worker processes",
        "W1x4": "W1 on 4 worker processes",
        "W1-SDK": "W1 through the sidecar (Python SDK)",
        "W2-SDK": "W2 through the sidecar (Python SDK)",
        "W3-SDK": "W3 through the sidecar (Python SDK)",
    }
    for name in ("W1", "W1x2", "W1x4", "W2", "W3", *SDK_NAMES, "E1", "E2", "C1", "C2", "W5"):
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
            "C1": f"C1 {r.get('activities')} sequential activities",
            "C2": f"C2 fan-out/in of {r.get('activities')}",
        }.get(name.removesuffix("-SDK"), labels[name])
        if name in SDK_NAMES:  # the in-process label, through the sidecar
            label = label.replace(name.removesuffix("-SDK"), name, 1).replace("sequential activities", "seq.")
            label += " via sidecar"
        per = r["storage_calls"]["per_activity"] if "storage_calls" in r else None
        target = ""
        if name in TARGETS:
            op, value, _unit = TARGETS[name]
            v = verdict.get(name)
            target = f"{op}{value:g} {'PASS' if v and v['pass'] else 'MISS'}"
            vc = verdict.get(name + ".calls")
            if vc:
                target += f"; calls<=10 {'PASS' if vc['pass'] else 'MISS'}"
        elif name in SDK_NAMES:
            target = "reported (Python SDK via sidecar)"
        elif name in ("W5", "E1", "E2", "C1", "C2", "W1x2", "W1x4"):
            target = "reported" if name == "W5" else "reported (calls per operation)"
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
    for key in ("W5", "W5-table"):
        r5 = results["workloads"].get(key)
        if r5 and "idle_worker_calls_per_hour" in r5:
            say(
                f"{key} idle worker ({r5.get('partition_manager', 'blobs')} partition manager): "
                f"{r5['idle_worker_calls_per_hour']} storage calls per hour (transactions; "
                f"maxQueuePollingInterval {r5['max_queue_polling_interval_s']} s)"
            )
    c1 = results["workloads"].get("C1")
    if c1 and "growth_ratio" in c1:
        say(
            f"C1 cost growth: first {c1['window']} activities {c1['first_100_per_s']:.1f}/s, last "
            f"{c1['window']} {c1['last_100_per_s']:.1f}/s, ratio {c1['growth_ratio']:.3f} (issue 13: >= 0.95)"
        )
    _print_sidecar_notes(results["workloads"])
    for name in ("W1", "W2", "W3", "C1", "C2"):
        r = results["workloads"].get(name)
        if r and "worker_cpu_s_per_100_activities" in r:
            m = r["worker_memory_mb"]
            say(
                f"{name} worker CPU {r['worker_cpu_s_per_100_activities']:.3f} s per 100 activities; peak memory "
                f"VmHWM {m['vmhwm']} MB"
            )
    for name in ("W1", "W2", "W3", *SDK_NAMES, "C1", "C2"):
        r = results["workloads"].get(name)
        if r and "storage_calls" in r:
            sc, cpu = r["storage_calls"], r["cpu_utilisation"]
            ops = ", ".join(f"{k} {v / r['activities']:.2f}" for k, v in list(sc["worker_by_op"].items())[:8])
            cops = ", ".join(
                f"{k} {v / r['activities']:.2f}" for k, v in list(sc["client_by_op"].items())[:4]
            )
            say(
                f"{name} per activity: {'sidecar' if r.get('sidecar') else 'worker'} {sc['worker_per_activity']:.2f} [{ops}]; client "
                f"{sc['client'] / r['activities']:.2f} [{cops}]"
            )
            say(
                f"{name} CPU (cores busy): azurite {cpu['azurite']}, "
                + (
                    f"sidecar {cpu['worker']}, SDK worker {cpu['sdk_worker']}, "
                    if "sdk_worker" in cpu
                    else f"worker {cpu['worker']}, "
                )
                + f"bench client {cpu['bench_client']}, other processes {cpu['other_processes']}"
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


def _print_sidecar_notes(work: dict[str, Any]) -> None:
    """Per sidecar workload: its rate beside the in-process one, and the CPU of both processes."""
    for name in SDK_NAMES:
        r, base = work.get(name), work.get(name.removesuffix("-SDK"))
        if not r or "figure" not in r:
            continue
        beside = (
            f"; in-process {base['figure']:.2f} (sidecar / in-process {r['figure'] / base['figure']:.2f})"
            if base and base.get("figure")
            else ""
        )
        say(
            f"{name}: {r['figure']:.2f} {r['unit']}{beside}; CPU s per 100 activities: sidecar "
            f"{r['worker_cpu_s_per_100_activities']:.3f}, SDK worker {r['sdk_worker_cpu_s_per_100_activities']:.3f}"
            + (
                f" (in-process worker {base['worker_cpu_s_per_100_activities']:.3f})"
                if base and "figure" in base
                else ""
            )
        )


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


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def save_results(out: Path, results: dict[str, Any]) -> None:
    """The results JSON (floats rounded to 4 places)."""
    out.write_text(json.dumps(_round(results), indent=2, default=str) + "\n")
