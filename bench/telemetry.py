"""What traces and metrics cost per activity: ``python -m bench.telemetry`` (no storage, a few seconds).

Runs the runtime's own telemetry hooks for one activity round trip (the activity's outcome:
``worker.telemetry.record.activity_done``; the episode that takes its result in:
``worker.telemetry.record.episode_done``) many times, first with telemetry off (no OpenTelemetry SDK
configured, metrics not turned on), then on (the SDK's tracer provider with a span processor that
drops what it gets, and metrics on), and prints the microseconds per activity of each.

``python -m bench --telemetry ...`` runs the workloads with telemetry on in the worker processes (the
same SDK set-up, plus metrics); compare ``worker_cpu_s_per_100_activities`` with a run without it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from taskhub.format.history import (
    ExecutionStartedEvent,
    OrchestrationStatus,
    TaskCompletedEvent,
    TaskScheduledEvent,
)
from taskhub.format.types import OrchestrationInstance, TraceContext
from taskhub.telemetry import metrics, spans
from taskhub.telemetry.tracing import stamp_start
from worker.engine.episode import Episode
from worker.telemetry import record as telemetry

__all__ = ["TELEMETRY_ENV", "configure", "measure"]

TELEMETRY_ENV = "BENCH_TELEMETRY"
"""Set (to 1) in a bench worker process: traces (SDK, spans dropped) and metrics on."""


def configure() -> None:
    """The OpenTelemetry SDK with a processor that drops every span (what an exporter costs is the
    exporter's), and this project's metrics on."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)
    spans.refresh()
    metrics.enable()


def _round_trip() -> tuple[TaskScheduledEvent, TaskCompletedEvent, Episode]:
    ctx = TraceContext(trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    stamp_start(ctx, time_now())
    inst = OrchestrationInstance("bench", "e1")
    started = ExecutionStartedEvent(orchestration_instance=inst, name="Bench", parent_trace_context=ctx)
    scheduled = TaskScheduledEvent(
        event_id=0,
        name="Step",
        parent_trace_context=TraceContext(
            trace_parent="00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
        ),
    )
    done = TaskCompletedEvent(task_scheduled_id=0, result="1")
    episode = Episode("bench", "e1", started, [done], [], OrchestrationStatus.RUNNING)
    return scheduled, done, episode


def time_now() -> Any:
    from taskhub.format.history import utcnow

    return utcnow()


def _nothing(*_args: Any) -> None:
    return None


def measure(n: int, *, baseline: bool = False) -> float:
    """Microseconds of telemetry per activity round trip (its outcome + the episode taking it in);
    ``baseline``: the same loop calling a function that does nothing (the loop's own cost)."""
    scheduled, done, episode = _round_trip()
    history = [episode.started, scheduled, done]
    activity_done = _nothing if baseline else telemetry.activity_done
    episode_done = _nothing if baseline else telemetry.episode_done
    t0 = time.perf_counter()
    for _ in range(n):
        activity_done(scheduled, "bench", time.perf_counter(), done)
        episode_done(time.perf_counter(), "bench", episode, [done], history)
    return (time.perf_counter() - t0) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.telemetry", description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=20_000, help="activity round trips per measurement")
    ns = p.parse_args(argv)
    measure(1000)  # warm up
    loop = min(measure(ns.n, baseline=True) for _ in range(3))
    off = min(measure(ns.n) for _ in range(3)) - loop
    configure()
    measure(1000)
    on = min(measure(ns.n) for _ in range(3)) - loop
    result = {
        "us_per_activity_off": round(off, 2),
        "us_per_activity_on": round(on, 2),
        "us_loop_baseline": round(loop, 2),
        "n": ns.n,
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
