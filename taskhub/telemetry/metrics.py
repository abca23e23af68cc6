"""The metric instruments of a worker (and of ``taskhub serve``), recorded in-process and rendered as
Prometheus text by :mod:`taskhub.telemetry.prometheus`; mirrored to OpenTelemetry metrics (meter
``taskhub``) when the ``otel`` extra is installed.

Off by default: until :func:`enable` is called the module-level functions (:func:`count`,
:func:`observe`) return at once, and nothing is allocated. Names, kinds and help texts live in
:data:`INSTRUMENTS` (the table docs/observability.md shows).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BUCKETS",
    "INSTRUMENTS",
    "Instrument",
    "Metrics",
    "count",
    "current",
    "disable",
    "enable",
    "observe",
]

Kind = Literal["counter", "gauge", "histogram"]
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Instrument:
    name: str
    kind: Kind
    help: str
    unit: str = ""


INSTRUMENTS: dict[str, Instrument] = {
    i.name: i
    for i in (
        Instrument(
            "taskhub_queue_messages", "gauge", "Messages in a queue (approximate count), by queue and kind"
        ),
        Instrument(
            "taskhub_queue_oldest_message_age_seconds",
            "gauge",
            "Age of the oldest visible message of a queue (0 when empty)",
            "s",
        ),
        Instrument("taskhub_episodes_total", "counter", "Orchestration episodes checkpointed, by result"),
        Instrument(
            "taskhub_episodes_in_memory_total",
            "counter",
            "Orchestration episodes decided in memory by a group commit and committed with a later one",
        ),
        Instrument(
            "taskhub_episode_duration_seconds",
            "histogram",
            "Time of one episode: load, replay, checkpoint",
            "s",
        ),
        Instrument("taskhub_activities_total", "counter", "Activities run, by name and result"),
        Instrument("taskhub_activity_duration_seconds", "histogram", "Time an activity ran, by name", "s"),
        Instrument("taskhub_entity_batches_total", "counter", "Entity batches processed"),
        Instrument("taskhub_entity_batch_duration_seconds", "histogram", "Time of one entity batch", "s"),
        Instrument("taskhub_failures_total", "counter", "Orchestrations and activities that failed, by kind"),
        Instrument(
            "taskhub_poison_moves_total", "counter", "Messages moved to the poison queue, by origin queue"
        ),
        Instrument("taskhub_storage_calls_total", "counter", "Azure Storage calls, by operation"),
        Instrument(
            "taskhub_storage_errors_total",
            "counter",
            "Azure Storage calls that failed, by operation and kind",
        ),
        Instrument(
            "taskhub_partitions_owned", "gauge", "Control queues whose ownership lease this worker holds"
        ),
        Instrument(
            "taskhub_sessions_in_memory", "gauge", "Orchestration sessions (histories) kept in memory"
        ),
        Instrument(
            "taskhub_fast_path_total",
            "counter",
            "Times a fast path was taken, by path (session_resumed, local_activity, local_result, "
            "row_deferred, row_coalesced, wakeup_received; worker only)",
        ),
    )
}

OBSERVED = frozenset({"taskhub_storage_calls_total", "taskhub_fast_path_total"})
"""Counters read from the runtime's own counts at collection time (not added to as they happen)."""

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Histogram bucket upper bounds, in seconds (``+Inf`` is implied)."""


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def add(self, value: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, value)] += 1
        self.total += value
        self.n += 1


Collector = Callable[["Metrics"], Awaitable[None] | None]


class Metrics:
    """Values by instrument and labels. Collectors run before each scrape (gauges read then)."""

    def __init__(self) -> None:
        self.values: dict[str, dict[Labels, float]] = {}
        self.histograms: dict[str, dict[Labels, Histogram]] = {}
        self.collectors: list[Collector] = []
        self._lock = threading.Lock()  # activities may run in a thread pool
        self._otel = _otel_mirror()

    def add(self, name: str, value: float = 1.0, /, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self.values.setdefault(name, {})
            series[key] = series.get(key, 0.0) + value
        if self._otel is not None:
            self._otel.add(name, value, labels)

    def set(self, name: str, value: float, /, **labels: str) -> None:
        with self._lock:
            self.values.setdefault(name, {})[tuple(sorted(labels.items()))] = value

    def observe(self, name: str, seconds: float, /, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self.histograms.setdefault(name, {}).setdefault(key, Histogram()).add(seconds)
        if self._otel is not None:
            self._otel.record(name, seconds, labels)

    async def collect(self) -> None:
        for c in list(self.collectors):
            result = c(self)
            if result is not None:
                await result


_current: Metrics | None = None


def enable() -> Metrics:
    """Turn metrics on for this process (idempotent) and return the instruments."""
    global _current
    if _current is None:
        _current = Metrics()
    return _current


def disable() -> None:
    global _current
    _current = None


def current() -> Metrics | None:
    return _current


def count(name: str, value: float = 1.0, /, **labels: str) -> None:
    """Add to a counter; nothing at all while metrics are off."""
    m = _current
    if m is not None:
        m.add(name, value, **labels)


def observe(name: str, seconds: float, /, **labels: str) -> None:
    """Record a duration; nothing at all while metrics are off."""
    m = _current
    if m is not None:
        m.observe(name, seconds, **labels)


class _OtelMirror:
    """The instruments on the OpenTelemetry meter ``taskhub``: made once per process (the API keeps the
    first of two instruments of one name); the gauges read whichever :class:`Metrics` is current."""

    def __init__(self, meter: Any) -> None:
        self._inst: dict[str, Any] = {}
        for i in INSTRUMENTS.values():
            if i.kind == "counter" and i.name not in OBSERVED:
                self._inst[i.name] = meter.create_counter(i.name, unit=i.unit, description=i.help)
            elif i.kind == "histogram":
                self._inst[i.name] = meter.create_histogram(i.name, unit=i.unit or "s", description=i.help)
            elif i.kind == "gauge":  # read from the values at collection time
                meter.create_observable_gauge(
                    i.name, callbacks=[_observer(i.name)], unit=i.unit, description=i.help
                )
            else:  # read from the runtime's counters at collection time (OBSERVED)
                meter.create_observable_counter(
                    i.name, callbacks=[_observer(i.name)], unit=i.unit, description=i.help
                )

    def add(self, name: str, value: float, labels: dict[str, str]) -> None:
        inst = self._inst.get(name)
        if inst is not None:
            inst.add(value, labels)

    def record(self, name: str, value: float, labels: dict[str, str]) -> None:
        inst = self._inst.get(name)
        if inst is not None:
            inst.record(value, labels)


def _observer(name: str) -> Callable[[Any], list[Any]]:
    def observe_values(_options: Any) -> list[Any]:
        from opentelemetry.metrics import Observation

        metrics = _current
        if metrics is None:
            return []
        return [Observation(v, dict(k)) for k, v in list(metrics.values.get(name, {}).items())]

    return observe_values


_mirror: list[_OtelMirror | None] = []


def _otel_mirror() -> _OtelMirror | None:
    if not _mirror:
        try:
            from opentelemetry import metrics as otel_metrics
        except ImportError:
            _mirror.append(None)
        else:
            _mirror.append(_OtelMirror(otel_metrics.get_meter("taskhub")))
    return _mirror[0]
