"""Metrics for a running :class:`~worker.host.Worker`: turn them on, read its gauges at each scrape
(partitions owned, sessions in memory, fast paths taken, the hub's backlog) and serve ``GET /metrics``
(``taskhub worker --metrics-port``, ``taskhub func start --metrics``).

The instruments and the text format live in :mod:`taskhub.telemetry`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskhub.hub.backlog import BacklogReader
from taskhub.hub.lifecycle import TaskHub
from taskhub.telemetry import metrics as m
from taskhub.telemetry.prometheus import MetricsServer

if TYPE_CHECKING:
    from worker.host import Worker

__all__ = ["serve_metrics", "watch_worker"]


def watch_worker(worker: Worker) -> m.Metrics:
    """Turn metrics on and add the collector of ``worker``'s gauges (queues, leases, sessions, calls)."""
    metrics, backlog = m.enable(), BacklogReader()

    async def collect(into: m.Metrics) -> None:
        into.set("taskhub_partitions_owned", float(len(worker.owned_queues)))
        into.set("taskhub_sessions_in_memory", float(worker.orchestrations.sessions_in_memory))
        for path, times in worker.fast_paths.as_labels().items():
            into.set("taskhub_fast_path_total", float(times), path=path)
        hub = getattr(worker.backend, "hub", None)  # the backlog is read from an Azure Storage hub only
        if isinstance(hub, TaskHub):
            await backlog(into, hub)

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
