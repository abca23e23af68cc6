"""The scale signal: how many workers a hub needs now, from its backlogs and concurrency settings.

The formula of the Durable Functions target-based scaler (``DurableTaskTargetScaler``, docs/
observability.md "Facts"):

* activity workers = ceil(work-item queue length / maxConcurrentActivityFunctions)
* orchestrator workers = min(control queues with messages, ceil(control messages / maxConcurrentOrchestratorFunctions))
* target = max(activity workers, orchestrator workers)

The orchestrator part can never pass the number of non-empty control queues, hence ``partitionCount``:
one control queue is processed by one worker at a time.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any

from taskhub.hub.health import QueueHealth, queue_health
from taskhub.hub.lifecycle import TaskHub

__all__ = ["ScaleInputs", "ScaleStatus", "read_scale_status", "target_worker_count"]


@dataclass(frozen=True)
class ScaleInputs:
    work_item_queue_length: int
    control_queue_lengths: tuple[int, ...]
    max_concurrent_activity_functions: int
    max_concurrent_orchestrator_functions: int


@dataclass(frozen=True)
class ScaleStatus:
    inputs: ScaleInputs
    activity_workers: int
    orchestrator_workers: int
    target_worker_count: int
    hub: str = ""
    oldest_age_s: dict[str, float | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The reply of ``taskhub scale-status`` and of the HTTP route: KEDA's metrics-api scaler reads
        ``targetWorkerCount`` (its ``valueLocation``)."""
        i = self.inputs
        return {
            "hub": self.hub,
            "targetWorkerCount": self.target_worker_count,
            "activityWorkers": self.activity_workers,
            "orchestratorWorkers": self.orchestrator_workers,
            "workItemQueueLength": i.work_item_queue_length,
            "controlQueueLengths": list(i.control_queue_lengths),
            "maxConcurrentActivityFunctions": i.max_concurrent_activity_functions,
            "maxConcurrentOrchestratorFunctions": i.max_concurrent_orchestrator_functions,
            "partitionCount": len(i.control_queue_lengths),
            "oldestMessageAgeSeconds": self.oldest_age_s,
        }


def target_worker_count(inputs: ScaleInputs) -> ScaleStatus:
    """The worker count the backlogs ask for (pure; see the module docstring)."""
    if inputs.max_concurrent_activity_functions < 1 or inputs.max_concurrent_orchestrator_functions < 1:
        raise ValueError("the concurrency limits must be at least 1")
    if inputs.work_item_queue_length < 0 or any(n < 0 for n in inputs.control_queue_lengths):
        raise ValueError("a queue length cannot be negative")
    activity = math.ceil(inputs.work_item_queue_length / inputs.max_concurrent_activity_functions)
    control_messages = sum(inputs.control_queue_lengths)
    active_queues = sum(1 for n in inputs.control_queue_lengths if n > 0)
    orchestrator = min(
        active_queues, math.ceil(control_messages / inputs.max_concurrent_orchestrator_functions)
    )
    return ScaleStatus(inputs, activity, orchestrator, max(activity, orchestrator))


def _length(q: QueueHealth) -> int:
    return q.depth if q.depth is not None and q.error is None else 0


async def read_scale_status(hub: TaskHub) -> ScaleStatus:
    """Read the queue lengths now (approximate counts, as Azure Storage gives them) and apply the formula.
    LookupError when the hub has none of its queues (a queue missing alone counts as empty)."""
    names = hub.names
    controls, work = await asyncio.gather(
        asyncio.gather(*(queue_health(hub.storage, q) for q in names.control_queues)),
        queue_health(hub.storage, names.work_item_queue),
    )
    if all(q.error == "missing" for q in (*controls, work)):
        raise LookupError(
            f"task hub {names.hub!r} has no queues in this storage account (not created yet, or another hubName?)"
        )
    s = hub.settings
    status = target_worker_count(
        ScaleInputs(
            work_item_queue_length=_length(work),
            control_queue_lengths=tuple(_length(q) for q in controls),
            max_concurrent_activity_functions=s.max_concurrent_activity_functions,
            max_concurrent_orchestrator_functions=s.max_concurrent_orchestrator_functions,
        )
    )
    ages = {
        q.name: (q.oldest_age.total_seconds() if q.oldest_age is not None else None)
        for q in (*controls, work)
    }
    return ScaleStatus(
        status.inputs,
        status.activity_workers,
        status.orchestrator_workers,
        status.target_worker_count,
        hub=names.hub,
        oldest_age_s=ages,
    )
