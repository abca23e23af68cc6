"""The entity workloads, run by ``bench.drivers.run_workload`` like W1-W3:

* E1: ``n`` client signals ``add 1`` to one ``BenchCounter``; done when its state is ``n``.
* E2: ``n`` entity calls spread over 100 counters: 100 ``CallCounter`` orchestrations, each making
  ``n / 100`` sequential calls to a counter of its own; done when all completed.

The figure is operations per second; ``storage_calls.per_activity`` is then storage calls per operation.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from taskhub.client.async_client import TaskHubClient
from taskhub.format.history import OrchestrationStatus
from taskhub.model.entities import EntityId

__all__ = ["e1", "e2"]

COUNTERS = 100


async def e1(client: TaskHubClient, n: int) -> dict[str, Any]:
    counter = EntityId("benchcounter", "e1")
    t0 = time.time()
    sem = asyncio.Semaphore(32)

    async def one() -> None:
        async with sem:
            await client.signal_entity(counter, "add", input=1)

    await asyncio.gather(*(one() for _ in range(n)))
    t_sent = time.time()
    deadline = time.monotonic() + 600
    value: Any = None
    while time.monotonic() < deadline:
        meta = await client.get_entity(counter)
        value = meta.state if meta else None
        if value == n:
            break
        await asyncio.sleep(0.1)
    t_end = time.time()
    return {
        "operations": n,
        "activities": n,  # run_workload's storage-calls divisor: here, operations
        "elapsed_s": t_end - t0,
        "send_s": t_sent - t0,
        "figure": n / (t_end - t0),
        "unit": "operations/s",
        "problem": None if value == n else f"the counter holds {value!r}, expected {n}",
    }


async def e2(client: TaskHubClient, n: int) -> dict[str, Any]:
    per = max(1, n // COUNTERS)
    t0 = time.time()
    ids = await asyncio.gather(
        *(client.schedule_new_orchestration("CallCounter", input={"key": f"e2-{i:03d}", "calls": per})
          for i in range(COUNTERS))
    )  # fmt: skip
    states = [await client.wait_for_orchestration_completion(i, timeout=600) for i in ids]
    t_end = max(s.completed_at.timestamp() for s in states if s and s.completed_at)
    bad = [
        s
        for s in states
        if s is None or s.runtime_status is not OrchestrationStatus.COMPLETED or s.output != per
    ]
    return {
        "operations": per * COUNTERS,
        "counters": COUNTERS,
        "activities": per * COUNTERS,
        "elapsed_s": t_end - t0,
        "figure": per * COUNTERS / (t_end - t0),
        "unit": "operations/s",
        "problem": (
            f"{len(bad)} orchestrations did not end with {per}: "
            + ", ".join(f"{s.instance_id}={s.output!r}" if s else "missing" for s in bad[:10])
            if bad
            else None
        ),
    }
