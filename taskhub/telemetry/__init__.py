"""Telemetry of a hub: metric instruments with their Prometheus text, and the OpenTelemetry trace names
and trace-context carry (docs/observability.md). What reads the hub's queues for them lives beside the
queues: ``taskhub.hub.scale`` (the scale signal) and ``taskhub.hub.backlog`` (the queue gauges).

* :mod:`.metrics`: the instruments a process records into; nothing is created until metrics are turned on.
* :mod:`.prometheus`: the Prometheus text format of those instruments, and a small ``/metrics`` server.
* :mod:`.tracing`: span names, W3C ``traceparent`` text, the context DTFx carries in messages and
  history (pure).
* :mod:`.spans`: spans through the OpenTelemetry API when it is installed (the ``otel`` extra) and a
  provider is configured; otherwise every call returns at once.

Import the submodules directly: :mod:`.metrics` is imported by the storage seam, so this package's
``__init__`` imports nothing; nothing here reads the hub (no circle between the two folders).
"""

__all__: list[str] = []
