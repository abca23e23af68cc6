"""Test-only: configure the OpenTelemetry SDK in a process under test so that every finished span is
appended to a file as one JSON line, written at once (a SIGKILLed process keeps what it emitted)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from typing import Any

from taskhub.telemetry import spans

SPANS_ENV = "TASKHUB_TEST_SPANS"


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


def configure(path: str) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    lock = threading.Lock()

    class JsonLines(SpanExporter):
        def export(self, finished: Sequence[Any]) -> SpanExportResult:
            with lock:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, "".join(json.dumps(span_record(s)) + "\n" for s in finished).encode())
                finally:
                    os.close(fd)
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLines()))
    trace.set_tracer_provider(provider)
    spans.refresh()


def read(path: Any) -> list[dict[str, Any]]:
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
