"""The worker's side of telemetry: turn metrics on for a :class:`~worker.host.Worker`, read its gauges
at each scrape, and serve ``/metrics`` (``taskhub worker --metrics-port``).

The instruments and the text format live in :mod:`taskhub.telemetry`; the runtime records into them
with one-line calls (``metrics.count(...)``, ``metrics.observe(...)``) that cost nothing while off.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from taskhub.hub.health import queue_health
from taskhub.telemetry import metrics as m
from taskhub.telemetry.prometheus import MetricsServer

if TYPE_CHECKING:
    from worker.host import Worker

__all__ = ["activity_done", "entity_batch_done", "episode_done", "serve_metrics", "watch_worker"]

BACKLOG_MIN_INTERVAL_S = 1.0
"""Scrapes closer together than this reuse the queue lengths read last (two storage calls per queue)."""


def watch_worker(worker: Worker) -> m.Metrics:
    """Turn metrics on and add the collector of ``worker``'s gauges (queues, leases, sessions, calls)."""
    metrics = m.enable()
    last = [0.0]

    async def collect(into: m.Metrics) -> None:
        hub = worker.hub
        into.set("taskhub_partitions_owned", float(len(worker.owned_queues)))
        into.set("taskhub_sessions_in_memory", float(worker.orchestrations.sessions_in_memory))
        for op, n in list(hub.storage.calls.items()):
            into.set("taskhub_storage_calls_total", float(n), op=op)
        now = time.monotonic()
        if now - last[0] < BACKLOG_MIN_INTERVAL_S:
            return
        last[0] = now
        names = hub.names
        queues = [(q, "control") for q in names.control_queues] + [(names.work_item_queue, "workitems")]
        read = await asyncio.gather(*(queue_health(hub.storage, q) for q, _ in queues))
        for (name, kind), q in zip(queues, read, strict=True):
            if q.error is not None:
                continue
            into.set("taskhub_queue_messages", float(q.depth or 0), queue=name, kind=kind)
            age = q.oldest_age.total_seconds() if q.oldest_age is not None else 0.0
            into.set("taskhub_queue_oldest_message_age_seconds", age, queue=name, kind=kind)

    metrics.collectors.append(collect)
    return metrics


async def serve_metrics(worker: Worker, port: int, host: str = "0.0.0.0") -> MetricsServer:
    """Metrics on for ``worker`` and ``GET /metrics`` served on ``host:port``."""
    server = MetricsServer(watch_worker(worker), port, host)
    await server.start()
    return server


def episode_done(started: float, status: str) -> None:
    """One orchestration episode checkpointed (``started``: ``time.perf_counter()`` at its start)."""
    if m.current() is None:
        return
    m.count("taskhub_episodes_total", status=status)
    m.observe("taskhub_episode_duration_seconds", time.perf_counter() - started)
    if status == "Failed":
        m.count("taskhub_failures_total", kind="orchestration")


def activity_done(name: str, started: float, failed: bool) -> None:
    """One activity ran to an outcome."""
    if m.current() is None:
        return
    m.count("taskhub_activities_total", name=name, result="failed" if failed else "completed")
    m.observe("taskhub_activity_duration_seconds", time.perf_counter() - started, name=name)
    if failed:
        m.count("taskhub_failures_total", kind="activity")


def entity_batch_done(started: float) -> None:
    """One entity batch checkpointed."""
    if m.current() is None:
        return
    m.count("taskhub_entity_batches_total")
    m.observe("taskhub_entity_batch_duration_seconds", time.perf_counter() - started)
