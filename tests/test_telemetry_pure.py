"""The pure pieces of telemetry: the scale formula, W3C traceparent text, span names and ids, and the
Prometheus text of the instruments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskhub.format.types import TraceContext
from taskhub.hub.scale import ScaleInputs, target_worker_count
from taskhub.telemetry.metrics import Metrics
from taskhub.telemetry.prometheus import render
from taskhub.telemetry.tracing import (
    activity_name,
    create_orchestration_name,
    derived_span_id,
    orchestration_span,
    parse_traceparent,
    stamp_start,
    timer_name,
)


@pytest.mark.parametrize(
    ("work", "controls", "max_a", "max_o", "expected"),
    [
        (0, (0, 0, 0, 0), 10, 10, 0),  # idle: zero workers
        (25, (0, 0, 0, 0), 10, 10, 3),  # ceil(25 / 10)
        (0, (100, 0, 0, 0), 10, 5, 1),  # one busy control queue: one worker, however long it is
        (0, (100, 100, 1, 0), 10, 5, 3),  # three busy queues cap ceil(201 / 5)
        (0, (3, 3, 0, 0), 10, 5, 2),  # min(2 queues, ceil(6 / 5) = 2)
        (41, (3, 3, 0, 0), 20, 5, 3),  # the larger of ceil(41 / 20) = 3 and 2
    ],
)
def test_scale_formula(work: int, controls: tuple[int, ...], max_a: int, max_o: int, expected: int) -> None:
    status = target_worker_count(ScaleInputs(work, controls, max_a, max_o))
    assert status.target_worker_count == expected
    assert status.to_json()["partitionCount"] == len(controls)


def test_scale_formula_rejects_a_zero_limit() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        target_worker_count(ScaleInputs(1, (0,), 0, 1))


def test_traceparent_round_trip_and_bad_text() -> None:
    text = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    ref = parse_traceparent(text)
    assert ref is not None and ref.traceparent == text and ref.sampled
    for bad in ("", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "ff-" + text[3:], "garbage"):
        assert parse_traceparent(bad) is None


def test_span_names_follow_dtfx() -> None:
    assert create_orchestration_name("Hello") == "create_orchestration:Hello"
    assert create_orchestration_name("Hello", "2.0") == "create_orchestration:Hello@(2.0)"
    assert activity_name("SayHello") == "activity:SayHello"
    assert timer_name("Hello") == "orchestration:Hello:timer"


def test_the_first_episode_stamps_the_orchestration_span_once() -> None:
    ctx = TraceContext(trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert orchestration_span(ctx) is None
    stamp_start(ctx, datetime(2026, 1, 2, tzinfo=UTC))
    first = orchestration_span(ctx)
    assert first is not None and first.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert ctx.id == first.traceparent and ctx.activity_start_time == "2026-01-02T00:00:00+00:00"
    stamp_start(ctx, datetime(2026, 1, 3, tzinfo=UTC))  # a later episode keeps it
    assert orchestration_span(ctx) == first


def test_derived_span_ids_are_stable_and_distinct() -> None:
    assert derived_span_id(1, "activity", 3) == derived_span_id(1, "activity", 3)
    assert len({derived_span_id(1, k, t) for k in ("activity", "orchestration") for t in range(50)}) == 100


def test_prometheus_text() -> None:
    m = Metrics()
    m.add("taskhub_activities_total", 2, name="a", result="completed")
    m.set("taskhub_queue_messages", 5, queue='q"1', kind="control")
    m.observe("taskhub_activity_duration_seconds", 0.003, name="a")
    text = render(m)
    assert (
        '# TYPE taskhub_activities_total counter\ntaskhub_activities_total{name="a",result="completed"} 2\n'
        in text
    )
    assert 'taskhub_queue_messages{kind="control",queue="q\\"1"} 5' in text
    assert 'taskhub_activity_duration_seconds_bucket{name="a",le="0.0025"} 0' in text
    assert 'taskhub_activity_duration_seconds_bucket{name="a",le="0.005"} 1' in text
    assert 'taskhub_activity_duration_seconds_bucket{name="a",le="+Inf"} 1' in text
    assert 'taskhub_activity_duration_seconds_count{name="a"} 1' in text
