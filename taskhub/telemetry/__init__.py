"""Telemetry of a hub: the scale signal, metric instruments with their Prometheus text, and the
OpenTelemetry trace names and trace-context carry (docs/observability.md).

* :mod:`.scale`: the target-based worker count (pure) and :func:`read_scale_status` (reads the queues).
* :mod:`.metrics`: the instruments a worker records into; nothing is created until metrics are turned on.
* :mod:`.prometheus`: the Prometheus text format of those instruments, and a small ``/metrics`` server.
* :mod:`.tracing`: span names, W3C ``traceparent`` text, and spans through the OpenTelemetry API when it
  is installed (the ``otel`` extra); without an SDK configured the API emits nothing.


Import the submodules directly: :mod:`.metrics` is imported by the storage seam, so this package's
``__init__`` imports nothing (no import circle through :mod:`.scale`, which reads the hub).
"""

__all__: list[str] = []
