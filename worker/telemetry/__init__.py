"""Telemetry of the worker: metrics and traces, recorded by the work-item pipeline and served by the
command-line verbs.

- ``record``: one-line calls when a work item is done (an episode, an activity, an entity batch);
- ``traces``: the orchestration, activity, timer and entity spans (DTFx's ``TraceHelper`` shape);
- ``serve``: metrics on for a running worker and ``GET /metrics`` (``serve_metrics``, ``watch_worker``).

The instruments, the span plumbing and the exposition format live in :mod:`taskhub.telemetry`.
"""

from worker.telemetry.serve import serve_metrics, watch_worker

__all__ = ["serve_metrics", "watch_worker"]
