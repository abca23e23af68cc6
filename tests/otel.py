"""Test-only: an OpenTelemetry SDK in-memory exporter for this process.

The SDK's tracer provider is process-wide and set once; each call adds a fresh exporter to it, so a
test sees only the spans finished after it asked."""

from __future__ import annotations

from typing import Any

from taskhub.telemetry import spans


def in_memory_exporter() -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans.refresh()
    return exporter
