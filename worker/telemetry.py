"""The worker's side of telemetry: turn metrics on for a :class:`~worker.host.Worker`, read its gauges
at each scrape, and serve ``/metrics`` (``taskhub worker --metrics-port``).

The instruments and the text format live in :mod:`taskhub.telemetry`; the runtime records into them
with one-line calls (``metrics.count(...)``, ``metrics.observe(...)``) that cost nothing while off.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from taskhub.format.history import HistoryEvent, TaskFailedEvent, TaskScheduledEvent, utcnow
from taskhub.format.types import TraceContext
from taskhub.telemetry import metrics as m
from taskhub.telemetry import spans
from taskhub.telemetry.backlog import BacklogReader
from taskhub.telemetry.prometheus import MetricsServer
from worker import traces
from worker.episode import Episode

if TYPE_CHECKING:
    from worker.host import Worker

__all__ = ["activity_done", "entity_batch_done", "episode_done", "serve_metrics", "watch_worker"]


def watch_worker(worker: Worker) -> m.Metrics:
    """Turn metrics on and add the collector of ``worker``'s gauges (queues, leases, sessions, calls)."""
    metrics, backlog = m.enable(), BacklogReader()

    async def collect(into: m.Metrics) -> None:
        into.set("taskhub_partitions_owned", float(len(worker.owned_queues)))
        into.set("taskhub_sessions_in_memory", float(worker.orchestrations.sessions_in_memory))
        await backlog(into, worker.hub)

    metrics.collectors.append(collect)
    return metrics


async def serve_metrics(worker: Worker, port: int, host: str = "0.0.0.0") -> MetricsServer:
    """Metrics on for ``worker`` and ``GET /metrics`` served on ``host:port``."""
    server = MetricsServer(watch_worker(worker), port, host)
    try:
        await server.start()
    except OSError as err:
        reason = err.strerror or str(err)
        raise ValueError(
            f"--metrics-port {port}: cannot listen on {host}:{port} ({reason}); choose another port"
        ) from None
    return server


@spans.guarded
def episode_done(
    started: float,
    instance_id: str,
    episode: Episode,
    incoming: Sequence[HistoryEvent],
    past: Sequence[HistoryEvent],
    ended: TraceContext | None = None,
) -> None:
    """One orchestration episode checkpointed (``started``: ``time.perf_counter()`` at its start)."""
    if spans.enabled():
        traces.after_checkpoint(instance_id, episode, incoming, past, ended)
    if m.current() is None:
        return
    status = episode.runtime_status.value
    m.count("taskhub_episodes_total", status=status)
    m.observe("taskhub_episode_duration_seconds", time.perf_counter() - started)
    if status == "Failed":
        m.count("taskhub_failures_total", kind="orchestration")


@spans.guarded
def activity_done(event: TaskScheduledEvent, instance_id: str, started: float, result: HistoryEvent) -> None:
    """One activity ran to an outcome (``started``: ``time.perf_counter()`` before it ran)."""
    elapsed = time.perf_counter() - started
    if spans.enabled():
        traces.activity_span(event, instance_id, utcnow() - timedelta(seconds=elapsed), result)
    if m.current() is None:
        return
    name, failed = event.name or "", isinstance(result, TaskFailedEvent)
    m.count("taskhub_activities_total", name=name, result="failed" if failed else "completed")
    m.observe("taskhub_activity_duration_seconds", elapsed, name=name)
    if failed:
        m.count("taskhub_failures_total", kind="activity")


@spans.guarded
def entity_batch_done(started: float, instance_id: str, incoming: Sequence[HistoryEvent]) -> None:
    """One entity batch checkpointed."""
    elapsed = time.perf_counter() - started
    if spans.enabled():
        traces.entity_spans(instance_id, incoming, utcnow() - timedelta(seconds=elapsed))
    if m.current() is None:
        return
    m.count("taskhub_entity_batches_total")
    m.observe("taskhub_entity_batch_duration_seconds", elapsed)
