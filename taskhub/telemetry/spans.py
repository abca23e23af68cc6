"""Spans through the OpenTelemetry API (the ``otel`` extra), when a tracer provider is configured.

Without the API installed, or with no SDK provider set (the API's default proxy), :func:`tracer` is
None and every function here returns at once: nothing is built, nothing is emitted.

Spans whose id was fixed earlier, maybe by another process (the orchestration span, the client span
of an activity or a sub-orchestration), are emitted with that id: the SDK's tracer draws span ids
from its ``id_generator``, which :func:`emit` points at the known id for the one call. A provider
that is not the SDK's gets a fresh id for those spans (the tree stays right for their children that
this process emits, not for children emitted elsewhere).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ParamSpec

from taskhub.format.types import TraceContext
from taskhub.telemetry.tracing import (
    SOURCE,
    SpanRef,
    create_orchestration_name,
    new_span_id,
    new_trace_id,
    orchestration_attributes,
)

__all__ = [
    "Pending",
    "begin",
    "begin_create",
    "context_of",
    "current_context",
    "emit",
    "enabled",
    "finish",
    "guarded",
    "refresh",
    "remote_parent",
    "tracer",
]

log = logging.getLogger(__name__)
P = ParamSpec("P")

_cache: tuple[Any, Any] | None = None
_off_until = 0.0
OFF_RECHECK_S = 1.0
_trace_api: Any = None  # the opentelemetry.trace module once imported; False when it is not installed

Attributes = Mapping[str, str | int | bool]


def _api() -> Any | None:
    global _trace_api
    if _trace_api is None:
        try:
            from opentelemetry import trace
        except ImportError:
            _trace_api = False
        else:
            _trace_api = trace
    return _trace_api or None


def tracer() -> Any | None:
    """The tracer of the configured provider, or None (no API, or no SDK configured). "None" is kept
    for :data:`OFF_RECHECK_S` (the API's own look-up reads the environment on every call): a provider
    set later is used from then on."""
    global _cache, _off_until
    if _off_until and time.monotonic() < _off_until:
        return None
    trace = _api()
    if trace is None:
        _off_until = time.monotonic() + OFF_RECHECK_S
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        _off_until = time.monotonic() + OFF_RECHECK_S
        return None
    _off_until = 0.0
    if _cache is None or _cache[0] is not provider:
        _cache = (provider, provider.get_tracer(SOURCE))
    return _cache[1]


def enabled() -> bool:
    return tracer() is not None


def _ns(dt: datetime | None) -> int | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1_000_000_000)


def _parent_context(parent: SpanRef | None) -> Any:
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

    if parent is None:
        return None
    state = TraceState.from_header([parent.trace_state]) if parent.trace_state else None
    sc = SpanContext(
        parent.trace_id,
        parent.span_id,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if parent.sampled else TraceFlags.DEFAULT),
        trace_state=state,
    )
    return trace.set_span_in_context(NonRecordingSpan(sc))


class _Fixed:
    def __init__(self, base: Any, span_id: int, trace_id: int | None) -> None:
        self.base, self.span_id, self.trace_id = base, span_id, trace_id

    def generate_span_id(self) -> int:
        return self.span_id

    def generate_trace_id(self) -> int:  # asked only for a root span
        return self.trace_id if self.trace_id is not None else int(self.base.generate_trace_id())

    def __getattr__(self, name: str) -> Any:  # anything else the SDK asks of its generator
        return getattr(self.base, name)


def _kind(kind: str) -> Any:
    from opentelemetry.trace import SpanKind

    return getattr(SpanKind, kind.upper())


def _ref(span: Any) -> SpanRef:
    sc = span.get_span_context()
    return SpanRef(sc.trace_id, sc.span_id, bool(sc.trace_flags & 1))


def emit(
    name: str,
    kind: str,
    parent: SpanRef | None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    span_id: int | None = None,
    attributes: Attributes | None = None,
    error: str | None = None,
    trace_id: int | None = None,
) -> SpanRef | None:
    """Emit a finished span now (``kind``: internal, server, client, producer, consumer). A failure of
    the tracing library is logged, never raised: telemetry must not fail the work it describes."""
    t = tracer()
    if t is None:
        return None
    try:
        return _emit(t, name, kind, parent, start, end, span_id, attributes, error, trace_id)
    except Exception as err:
        log.warning("telemetry.span_failed name=%s error=%r", name, err)
        return None


def _emit(
    t: Any,
    name: str,
    kind: str,
    parent: SpanRef | None,
    start: datetime | None,
    end: datetime | None,
    span_id: int | None,
    attributes: Attributes | None,
    error: str | None,
    trace_id: int | None = None,
) -> SpanRef | None:
    from opentelemetry.trace import Status, StatusCode

    ids = getattr(t, "id_generator", None)
    if span_id is not None and ids is not None:
        t.id_generator = _Fixed(ids, span_id, trace_id)
    try:
        span = t.start_span(
            name,
            _parent_context(parent),
            kind=_kind(kind),
            attributes=dict(attributes or {}),
            start_time=_ns(start),
        )
    finally:
        if span_id is not None and ids is not None:
            t.id_generator = ids
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error[:500]))
    span.end(end_time=_ns(end))
    return _ref(span)


@contextlib.contextmanager
def remote_parent(traceparent: str | None, tracestate: str | None = None) -> Iterator[None]:
    """Make an incoming W3C ``traceparent`` the current context for the block (no-op when off)."""
    if not traceparent or tracer() is None:
        yield
        return
    from opentelemetry import context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": traceparent, **({"tracestate": tracestate} if tracestate else {})}
    token = context.attach(TraceContextTextMapPropagator().extract(carrier))
    try:
        yield
    finally:
        context.detach(token)


class Pending:
    """A span whose identity is known now (to put in a message) and that is emitted by :meth:`finish`."""

    def __init__(
        self, name: str, kind: str, parent: SpanRef | None, ref: SpanRef, attributes: Attributes
    ) -> None:
        self.name, self.kind, self.parent, self.ref, self.attributes = name, kind, parent, ref, attributes
        self.start = datetime.now(UTC)

    def finish(self, error: str | None = None) -> None:
        emit(
            self.name,
            self.kind,
            self.parent,
            start=self.start,
            span_id=self.ref.span_id,
            attributes=self.attributes,
            error=error,
            trace_id=self.ref.trace_id,
        )


def begin(name: str, kind: str, attributes: Attributes | None = None) -> Pending | None:
    """A span that starts now as a child of the current context (a new trace when there is none);
    None when tracing is off. Put ``pending.ref.context()`` in the message, then ``finish()`` it."""
    if tracer() is None:
        return None
    try:
        return _begin(name, kind, attributes)
    except Exception as err:
        log.warning("telemetry.span_failed name=%s error=%r", name, err)
        return None


def _begin(name: str, kind: str, attributes: Attributes | None) -> Pending:
    from opentelemetry import trace

    current = trace.get_current_span().get_span_context()
    parent = (
        SpanRef(current.trace_id, current.span_id, bool(current.trace_flags & 1))
        if current.is_valid
        else None
    )
    trace_id = parent.trace_id if parent is not None else new_trace_id()
    ref = SpanRef(trace_id, new_span_id(), parent.sampled if parent is not None else True)
    return Pending(name, kind, parent, ref, dict(attributes or {}))


def context_of(pending: Pending | None) -> TraceContext | None:
    return pending.ref.context() if pending is not None else None


def finish(pending: Pending | None, error: str | None = None) -> None:
    if pending is not None:
        pending.finish(error)


def current_context() -> TraceContext | None:
    """The current span as a ``DistributedTraceContext`` (None when tracing is off or no span is current)."""
    if tracer() is None:
        return None
    from opentelemetry import trace

    sc = trace.get_current_span().get_span_context()
    return SpanRef(sc.trace_id, sc.span_id, bool(sc.trace_flags & 1)).context() if sc.is_valid else None


def begin_create(name: str, version: str | None, instance: object) -> Pending | None:
    """The client's ``create_orchestration:{name}`` span (producer), begun."""
    return begin(
        create_orchestration_name(name, version),
        "producer",
        orchestration_attributes(name, instance, version),
    )


def refresh() -> None:
    """Look for the tracer provider again on the next call (after setting one up in this process)."""
    global _off_until, _cache
    _off_until, _cache = 0.0, None


def guarded(fn: Callable[P, None]) -> Callable[P, None]:
    """A telemetry hook that logs its own failure instead of raising it into the runtime."""

    @functools.wraps(fn)
    def hook(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as err:
            log.warning("telemetry.hook_failed hook=%s error=%r", fn.__name__, err)

    return hook
