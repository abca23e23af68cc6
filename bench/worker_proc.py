"""The worker process the benchmark drives: ``python -m bench.worker_proc [--host-json PATH]``.

It runs a :class:`worker.Worker` for ``bench.workloads:app`` with settings from the environment (and
host.json when given), and answers one JSON command per stdin line with one JSON line on stdout:

* ``{"cmd": "snapshot"}``: the storage calls so far (``Storage.calls`` of the worker's hub, by method),
  activities started, and the process's VmRSS/VmHWM;
* ``{"cmd": "profile_start"}`` / ``{"cmd": "profile_stop", "path": P}``: cProfile the event-loop thread;
  the stop writes the pstats text to ``P`` and answers with the top functions;
* ``{"cmd": "stop"}``: graceful stop, then a final snapshot, then exit.

The first line it writes is ``{"event": "ready", ...}`` once it owns every control queue. SIGTERM also
stops it gracefully (writing the final snapshot to ``--calls-out`` when given).

``--sidecar``: the process is a ``taskhub sidecar`` instead (``worker.sidecar.server.Sidecar`` on a free
loopback port, named ``port`` in the ready line) with no functions of its own: the orchestrations and
activities run on the SDK worker that connects to it (``bench.sdk_worker``); the snapshot and the profile
are those of the sidecar's worker and event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import logging
import os
import pstats
import signal
import sys
import time
from typing import Any

from bench.telemetry import TELEMETRY_ENV, configure
from bench.workloads import app
from taskhub.config.settings import Settings
from worker import Worker
from worker.telemetry import watch_worker

log = logging.getLogger("bench.worker_proc")


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM (kB) of a process, from /proc/<pid>/status."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


def top_functions(stats: pstats.Stats, key: str, n: int = 40) -> list[dict[str, Any]]:
    """The ``n`` costliest functions by ``key`` ("tottime" or "cumtime") as plain dicts."""
    index = {"tottime": 2, "cumtime": 3}[key]
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = sorted(raw.items(), key=lambda kv: kv[1][index], reverse=True)[:n]
    out = []
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in rows:
        short = filename
        for marker in ("site-packages/", "/work/main/", "lib/python3"):
            if marker in short:
                short = short.split(marker, 1)[1]
                break
        out.append(
            {
                "function": f"{short}:{line}({func})",
                "ncalls": ncalls,
                "tottime_s": round(tottime, 4),
                "cumtime_s": round(cumtime, 4),
            }
        )
    return out


class Driven:
    def __init__(self, worker: Worker, calls_out: str | None) -> None:
        self.worker = worker
        self.calls_out = calls_out
        self.profile: cProfile.Profile | None = None
        self.started = time.time()

    def snapshot(self) -> dict[str, Any]:
        w = self.worker
        return {
            "calls": dict(w.backend.hub.storage.calls),  # type: ignore[attr-defined]
            "activities_started": w.activities.started_count,
            "owned_queues": w.owned_queues,
            "pid": os.getpid(),
            "mem_kb": proc_status(),
            "cpu_s": sum(os.times()[:2]),
            "time": time.time(),
        }

    def profile_start(self) -> dict[str, Any]:
        self.profile = cProfile.Profile()
        self.profile.enable()
        return {"ok": True}

    def profile_stop(self, path: str | None) -> dict[str, Any]:
        if self.profile is None:
            return {"ok": False, "error": "no profile running"}
        self.profile.disable()
        text = io.StringIO()
        stats = pstats.Stats(self.profile, stream=text)
        stats.sort_stats("tottime").print_stats(60)
        stats.sort_stats("cumulative").print_stats(60)
        if path:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.getvalue())
        self.profile = None
        return {
            "ok": True,
            "path": path,
            "by_tottime": top_functions(stats, "tottime"),
            "by_cumtime": top_functions(stats, "cumtime"),
        }


def write_json(path: str, obj: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)


def reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def serve(
    host_json: str | None, calls_out: str | None, ready_timeout: float, sidecar: bool = False
) -> None:
    settings = Settings.load(host_json)
    side: Any = None
    if sidecar:
        from worker.sidecar.server import Sidecar

        side = Sidecar(settings, port=0)
        worker = side.worker
    else:
        worker = Worker(app, settings)
    if os.environ.get(TELEMETRY_ENV):  # `python -m bench --telemetry`: traces and metrics on
        configure()
        watch_worker(worker)
    driven = Driven(worker, calls_out)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await (side.start() if side else worker.start())
    deadline = loop.time() + ready_timeout
    while len(worker.owned_queues) < settings.storage.partition_count and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    reply(
        {
            "event": "ready",
            "pid": os.getpid(),
            "owned_queues": worker.owned_queues,
            "partition_count": settings.storage.partition_count,
            "hub": settings.hub_name,
            "settings_source": list(settings.source),
            "max_queue_polling_interval_s": settings.storage.max_queue_polling_interval.total_seconds(),
            "max_concurrent_activity_functions": settings.max_concurrent_activity_functions,
            "max_concurrent_orchestrator_functions": settings.max_concurrent_orchestrator_functions,
            **({"port": side.port} if side else {}),
        }
    )

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stop_wait = asyncio.ensure_future(stop.wait())
    try:
        while True:
            line_task = asyncio.ensure_future(reader.readline())
            done, _ = await asyncio.wait({line_task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if line_task not in done:
                line_task.cancel()
                break
            line = line_task.result()
            if not line:  # the parent went away
                break
            try:
                cmd = json.loads(line)
            except ValueError:
                reply({"ok": False, "error": f"not JSON: {line[:80]!r}"})
                continue
            name = cmd.get("cmd")
            if name == "snapshot":
                reply(driven.snapshot())
            elif name == "profile_start":
                reply(driven.profile_start())
            elif name == "profile_stop":
                reply(driven.profile_stop(cmd.get("path")))
            elif name == "stop":
                break
            else:
                reply({"ok": False, "error": f"unknown command {name!r}"})
    finally:
        stop_wait.cancel()
        await (side.stop() if side else worker.stop())
        final = driven.snapshot()
        if calls_out:
            write_json(calls_out, final)
        reply({"event": "stopped", **final})


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.worker_proc")
    p.add_argument("--host-json", help="host.json to read (default: none, settings from the environment)")
    p.add_argument("--calls-out", help="write the final snapshot (storage calls by method) here on exit")
    p.add_argument("--ready-timeout", type=float, default=60.0)
    p.add_argument(
        "--sidecar", action="store_true", help="serve as a taskhub sidecar (bench.sdk_worker connects)"
    )
    ns = p.parse_args()
    level = os.environ.get("BENCH_WORKER_LOG_LEVEL", "WARNING").upper()  # INFO shows defers and abandons
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    asyncio.run(serve(ns.host_json, ns.calls_out, ns.ready_timeout, ns.sidecar))
    return 0


if __name__ == "__main__":
    sys.exit(main())
