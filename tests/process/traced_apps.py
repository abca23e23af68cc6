"""The App of the trace and metrics process tests: ``tests.process.traced_apps:app``.

With ``TASKHUB_TEST_SPANS=<file>`` in its environment, the worker process configures the OpenTelemetry
SDK at import, with a test-only exporter that appends each finished span to that file as one JSON line
(written at once, so a SIGKILLed process keeps what it emitted). The test assembles the trace from the
files of every process.

* ``traced``: activity ``hello``, activity ``slow_hello`` (sleeps ``TASKHUB_TEST_SLOW`` seconds, default
  0), sub-orchestration ``child`` (one activity), a 1 s timer, then ``add`` on entity ``counter``.
* ``fan_out``: ``n`` activities ``nap`` at once (each sleeps 0.2 s).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from taskhub.model.entities import EntityContext, EntityId
from taskhub.model.tasks import when_all
from taskhub.telemetry import spans

SPANS_ENV = "TASKHUB_TEST_SPANS"
SLOW_ENV = "TASKHUB_TEST_SLOW"

app = App()


def span_record(span: Any) -> dict[str, Any]:
    """One finished SDK span as a JSON-able record (ids as hex text)."""
    parent = span.parent
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{span.context.trace_id:032x}",
        "span_id": f"{span.context.span_id:016x}",
        "parent_id": f"{parent.span_id:016x}" if parent is not None else None,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "pid": os.getpid(),
    }


def _configure(path: str) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    lock = threading.Lock()

    class JsonLines(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            with lock:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, "".join(json.dumps(span_record(s)) + "\n" for s in spans).encode())
                finally:
                    os.close(fd)
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLines()))
    trace.set_tracer_provider(provider)
    spans.refresh()


if os.environ.get(SPANS_ENV):
    _configure(os.environ[SPANS_ENV])


@app.orchestrator
def traced(ctx: OrchestrationContext, x: str):  # type: ignore[no-untyped-def]
    a = yield ctx.call_activity(hello, input=x)
    b = yield ctx.call_activity(slow_hello, input=x)
    c = yield ctx.call_sub_orchestrator(child, input=x)
    yield ctx.create_timer(timedelta(seconds=1))
    n = yield ctx.call_entity(EntityId("counter", "k"), "add", input=1)
    return [a, b, c, n]


@app.orchestrator
def child(ctx: OrchestrationContext, x: str):  # type: ignore[no-untyped-def]
    return (yield ctx.call_activity(hello, input=f"child {x}"))


@app.orchestrator
def fan_out(ctx: OrchestrationContext, n: int):  # type: ignore[no-untyped-def]
    results = yield when_all([ctx.call_activity(nap, input=i) for i in range(n)])
    return len(results)


@app.activity
def hello(ctx: ActivityContext, x: str) -> str:
    return f"hello {x}"


@app.activity
def slow_hello(ctx: ActivityContext, x: str) -> str:
    time.sleep(float(os.environ.get(SLOW_ENV) or 0))
    return f"slow hello {x}"


@app.activity
def nap(ctx: ActivityContext, i: int) -> int:
    time.sleep(0.2)
    return i


@app.entity
def counter(ctx: EntityContext, value: Any) -> Any:
    total = ctx.get_state(0) + (value or 0)
    ctx.set_state(total)
    return total
