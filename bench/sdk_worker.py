"""The durabletask-python worker of the sidecar workloads: ``python -m bench.sdk_worker HOST:PORT``.

W1-W3's orchestrations and the ``echo`` activity of ``bench.workloads``, written with the official
Durable Task SDK (``durabletask`` from PyPI) under the same names, on a ``TaskHubGrpcWorker`` connected
to a ``taskhub sidecar`` (``python -m bench.worker_proc --sidecar``). The bench's client starts them by
name on the hub as it starts the in-process ones, so the two sets of figures differ only in where the
orchestrator and activity code runs.

It writes ``{"event": "ready", "pid": ...}`` once the worker is started and stops when stdin closes or
says ``{"cmd": "stop"}`` (answering ``{"event": "stopped", "cpu_s": ...}``); SIGTERM stops it too.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Generator
from typing import Any

from durabletask import task
from durabletask.worker import TaskHubGrpcWorker

CITIES = ("Tokyo", "Seattle", "London", "Cairo", "Lima")


def echo(ctx: task.ActivityContext, value: Any) -> Any:
    return value


def HelloSequence5(ctx: task.OrchestrationContext, _: Any) -> Generator[task.Task[Any], Any, Any]:
    out: list[str] = []
    for city in CITIES:
        out.append((yield ctx.call_activity(echo, input=f"Hello {city}!")))
    return out


def Sequence(ctx: task.OrchestrationContext, n: int) -> Generator[task.Task[Any], Any, Any]:
    total = 0
    for i in range(n):
        total += yield ctx.call_activity(echo, input=i)
    return total


def FanOutFanIn(ctx: task.OrchestrationContext, n: int) -> Generator[task.Task[Any], Any, Any]:
    results = yield task.when_all([ctx.call_activity(echo, input=i) for i in range(n)])
    return sum(results)


def worker_for(address: str) -> TaskHubGrpcWorker:
    """A worker with the bench's SDK functions, not yet started."""
    w = TaskHubGrpcWorker(host_address=address)
    for orchestrator in (HelloSequence5, Sequence, FanOutFanIn):
        w.add_orchestrator(orchestrator)
    w.add_activity(echo)
    return w


def _reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or ":" not in args[0]:
        sys.stderr.write("usage: python -m bench.sdk_worker HOST:PORT (the sidecar's address)\n")
        return 2
    level = os.environ.get("BENCH_WORKER_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    worker = worker_for(args[0])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.start()
    _reply({"event": "ready", "pid": os.getpid()})

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.strip() and json.loads(line).get("cmd") == "stop":
                break
        stop.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    stop.wait()
    worker.stop()
    _reply({"event": "stopped", "cpu_s": sum(os.times()[:2])})
    return 0


if __name__ == "__main__":
    sys.exit(main())
