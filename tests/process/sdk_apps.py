"""A durabletask-python worker process for the sidecar's process tests:
``python -m tests.process.sdk_apps HOST:PORT JOURNAL`` runs until SIGTERM or SIGKILL.

``fan(n)`` fans out ``n`` calls of ``slow`` and returns the sum of their outputs; ``slow(i)`` appends
``start <pid> <i>`` to the journal, sleeps ``SLOW_S`` and returns ``i * 10``."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from durabletask import task
from durabletask.worker import TaskHubGrpcWorker

SLOW_S = 2.0
JOURNAL = sys.argv[2] if len(sys.argv) > 2 else os.devnull


def slow(ctx: task.ActivityContext, i: int) -> int:
    with open(JOURNAL, "a") as f:
        f.write(f"start {os.getpid()} {ctx.orchestration_id} {ctx.task_id} {i}\n")
    time.sleep(SLOW_S)
    return i * 10


def fan(ctx: task.OrchestrationContext, n: int) -> Iterator[task.Task[Any]]:
    results = yield task.when_all([ctx.call_activity(slow, input=i) for i in range(n)])
    return sum(results)


def main() -> None:
    w = TaskHubGrpcWorker(host_address=sys.argv[1])
    w.add_orchestrator(fan)
    w.add_activity(slow)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    w.start()
    stop.wait()
    w.stop()


if __name__ == "__main__":
    main()
