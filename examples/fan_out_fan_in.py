"""Fan-out/fan-in: one activity makes a batch of work, one activity per item runs in parallel, and
the results are aggregated when all are done.

- ``get_work_batch`` (F1) returns the items ``[1, 2, ..., count]``;
- ``process_item`` (F2) runs once per item, all at once (``when_all``), and returns ``item * item``;
- ``aggregate`` (F3) receives the sum of those results.

Input: ``count`` (an int), or ``{"count": 20, "work_seconds": 0.2}`` to make each F2 take a while.
``fan_out_fan_in(n)`` returns ``{"items": n, "total": 1² + ... + n²}``.

If the environment variable ``TASKHUB_EXAMPLES_JOURNAL`` names a file, every run of ``process_item``
appends a line ``<instance id> <item>`` to it (the crash tests count re-runs with it).
"""

from __future__ import annotations

import os
import time
from typing import Any

from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from taskhub.model.tasks import when_all

app = App()

JOURNAL_ENV = "TASKHUB_EXAMPLES_JOURNAL"


@app.orchestrator
def fan_out_fan_in(ctx: OrchestrationContext, request: int | dict[str, Any]):  # type: ignore[no-untyped-def]
    options = request if isinstance(request, dict) else {"count": request}
    work_seconds = options.get("work_seconds", 0)
    batch = yield ctx.call_activity(get_work_batch, input=options.get("count", 10))
    parallel = [
        ctx.call_activity(process_item, input={"item": item, "work_seconds": work_seconds}) for item in batch
    ]
    results = yield when_all(parallel)
    total = yield ctx.call_activity(aggregate, input=sum(results))
    return {"items": len(batch), "total": total}


@app.activity
def get_work_batch(ctx: ActivityContext, count: int) -> list[int]:
    return list(range(1, count + 1))


@app.activity
def process_item(ctx: ActivityContext, work: dict[str, Any]) -> int:
    item = int(work["item"])
    if work.get("work_seconds"):
        time.sleep(float(work["work_seconds"]))
    journal = os.environ.get(JOURNAL_ENV)
    if journal:
        with open(journal, "a", encoding="utf-8") as f:
            f.write(f"{ctx.orchestration_id} {item}\n")
    return item * item


@app.activity
async def aggregate(ctx: ActivityContext, total: int) -> int:
    """Stands in for storing the result somewhere; returns what it stored."""
    return total
