"""With an OpenTelemetry SDK meter provider configured, the instruments also reach it (meter ``taskhub``):
counters, histograms, and the gauges read at collection time."""

from __future__ import annotations

from typing import Any

from taskhub.telemetry import metrics


def _points(reader: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            if sm.scope.name != "taskhub":
                continue
            for metric in sm.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def test_instruments_reach_an_otel_meter_provider() -> None:
    from opentelemetry import metrics as otel_metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    otel_metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    metrics.disable()
    m = metrics.enable()
    try:
        m.add("taskhub_activities_total", 2, name="hello", result="completed")
        m.observe("taskhub_activity_duration_seconds", 0.25, name="hello")
        m.set("taskhub_partitions_owned", 3)
        points = _points(reader)
    finally:
        metrics.disable()
    [count] = points["taskhub_activities_total"]
    assert count.value == 2 and dict(count.attributes) == {"name": "hello", "result": "completed"}
    [latency] = points["taskhub_activity_duration_seconds"]
    assert latency.count == 1 and latency.sum == 0.25
    assert [p.value for p in points["taskhub_partitions_owned"]] == [3]
