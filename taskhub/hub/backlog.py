"""Gauges read from the hub at scrape time: the backlog of each queue and the storage calls made."""

from __future__ import annotations

import asyncio
import time

from taskhub.hub.health import queue_health
from taskhub.hub.lifecycle import TaskHub
from taskhub.telemetry.metrics import Metrics

__all__ = ["BACKLOG_MIN_INTERVAL_S", "BacklogReader"]

BACKLOG_MIN_INTERVAL_S = 1.0
"""Scrapes closer together than this reuse the queue lengths read last (two storage calls per queue)."""


class BacklogReader:
    """Sets ``taskhub_queue_messages`` / ``..._oldest_message_age_seconds`` per control queue and for
    the work-item queue, and ``taskhub_storage_calls_total`` from the storage seam's own counter."""

    def __init__(self) -> None:
        self._last = 0.0

    async def __call__(self, into: Metrics, hub: TaskHub) -> None:
        for op, n in list(hub.storage.calls.items()):
            into.set("taskhub_storage_calls_total", float(n), op=op)
        if time.monotonic() - self._last < BACKLOG_MIN_INTERVAL_S:
            return
        self._last = time.monotonic()
        names = hub.names
        queues = [(q, "control") for q in names.control_queues] + [(names.work_item_queue, "workitems")]
        read = await asyncio.gather(*(queue_health(hub.storage, q) for q, _ in queues))
        for (name, kind), q in zip(queues, read, strict=True):
            if q.error is not None:
                continue
            into.set("taskhub_queue_messages", float(q.depth or 0), queue=name, kind=kind)
            age = q.oldest_age.total_seconds() if q.oldest_age is not None else 0.0
            into.set("taskhub_queue_oldest_message_age_seconds", age, queue=name, kind=kind)
