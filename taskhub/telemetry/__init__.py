"""Telemetry of a hub: the scale signal, metric instruments with their Prometheus text, and the
OpenTelemetry trace names and trace-context carry (docs/observability.md).

* :mod:`.scale`: the target-based worker count (pure) and :func:`read_scale_status` (reads the queues).
* :mod:`.metrics`: the instruments a process records into; nothing is created until metrics are turned on.
* :mod:`.prometheus`: the Prometheus text format of those instruments, and a small ``/metrics`` server.
* :mod:`.backlog`: the queue gauges, read at scrape time.
* :mod:`.tracing`: span names, W3C ``traceparent`` text, the context DTFx carries in messages and
  history (pure).
* :mod:`.spans`: spans through the OpenTelemetry API when it is installed (the ``otel`` extra) and a
  provider is configured; otherwise every call returns at once.

Import the submodules directly: :mod:`.metrics` is imported by the storage seam, so this package's
``__init__`` imports nothing (no import circle through :mod:`.scale`, which reads the hub).
"""

__all__: list[str] = []
