"""Trace names and the W3C trace context that DTFx carries in its messages and history (pure: no
OpenTelemetry import here; :mod:`taskhub.telemetry.spans` emits).

Where the context travels (storage-format.md; DTFx ``DistributedTraceContext``):

* ``ExecutionStarted.ParentTraceContext``: the client's ``create_orchestration`` span (or the parent
  orchestration's client span of a sub-orchestration). The first episode writes the orchestration
  span's own ``SpanId``, ``Id`` and ``ActivityStartTime`` into it, as DTFx does, so every later
  episode, on any worker, continues the same span.
* ``TaskScheduled.ParentTraceContext``: the orchestration's client span for that activity; the
  activity's server span is its child.
* ``EventRaised.ParentTraceContext``: the sender's span (a client's ``orchestration_event`` span, or
  the orchestration that calls an entity).

Span ids that must be known again in a later episode, maybe in another process, and that DTFx keeps
in fields this format does not have (``SubOrchestrationInstanceCreated.ClientSpanId``) are derived
from the orchestration span and the task id (:func:`derived_span_id`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from taskhub.format.timefmt import format_datetimeoffset
from taskhub.format.types import TraceContext

__all__ = [
    "SOURCE",
    "SpanRef",
    "activity_name",
    "create_orchestration_name",
    "derived_span_id",
    "entity_name",
    "event_name",
    "format_traceparent",
    "from_context",
    "new_span_id",
    "new_trace_id",
    "event_attributes",
    "orchestration_attributes",
    "orchestration_span",
    "orchestration_name",
    "parse_traceparent",
    "stamp_start",
    "timer_name",
]

SOURCE = "DurableTask.Core"
"""The instrumentation scope (DTFx's ActivitySource name), so that one collector filter takes both."""

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


@dataclass(frozen=True)
class SpanRef:
    """A span's identity: the trace it belongs to and its own id (ints, as OpenTelemetry keeps them)."""

    trace_id: int
    span_id: int
    sampled: bool = True
    trace_state: str | None = None

    @property
    def traceparent(self) -> str:
        return format_traceparent(self.trace_id, self.span_id, self.sampled)

    def child(self, span_id: int) -> SpanRef:
        return SpanRef(self.trace_id, span_id, self.sampled, self.trace_state)

    def context(self) -> TraceContext:
        """As a ``DistributedTraceContext`` for a message or history event."""
        return TraceContext(trace_parent=self.traceparent, trace_state=self.trace_state)


def _with_version(prefix: str, name: str | None, version: str | None) -> str:
    return f"{prefix}:{name or ''}@({version})" if version else f"{prefix}:{name or ''}"


def create_orchestration_name(name: str | None, version: str | None = None) -> str:
    return _with_version("create_orchestration", name, version)


def orchestration_name(name: str | None, version: str | None = None) -> str:
    return _with_version("orchestration", name, version)


def activity_name(name: str | None, version: str | None = None) -> str:
    return _with_version("activity", name, version)


def timer_name(orchestration: str | None) -> str:
    return f"orchestration:{orchestration or ''}:timer"


def event_name(event: str | None) -> str:
    return f"orchestration_event:{event or ''}"


def entity_name(entity: str, operation: str | None) -> str:
    return f"entity:{entity}:{operation or ''}"


def format_traceparent(trace_id: int, span_id: int, sampled: bool = True) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


def parse_traceparent(text: str | None, trace_state: str | None = None) -> SpanRef | None:
    """A W3C ``traceparent`` header value; None when absent or malformed (all-zero ids included)."""
    if not text:
        return None
    match = _TRACEPARENT.match(text.strip().lower())
    if match is None or match.group(1) == "ff":
        return None
    trace_id, span_id = int(match.group(2), 16), int(match.group(3), 16)
    if trace_id == 0 or span_id == 0:
        return None
    return SpanRef(trace_id, span_id, bool(int(match.group(4), 16) & 1), trace_state)


def from_context(ctx: TraceContext | None) -> SpanRef | None:
    return parse_traceparent(ctx.trace_parent, ctx.trace_state) if ctx is not None else None


def derived_span_id(parent_span_id: int, kind: str, task_id: int) -> int:
    """A span id that every process computes alike from the orchestration span and the task id."""
    digest = hashlib.blake2b(f"{parent_span_id:016x}:{kind}:{task_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") or 1


def new_span_id() -> int:
    return int.from_bytes(secrets.token_bytes(8), "big") or 1


def new_trace_id() -> int:
    return int.from_bytes(secrets.token_bytes(16), "big") or 1


def orchestration_span(ctx: TraceContext | None) -> SpanRef | None:
    """The orchestration span recorded in its ``ExecutionStarted.ParentTraceContext`` (``SpanId``),
    or None when the start carried no trace context or was not stamped yet."""
    parent = from_context(ctx)
    if parent is None or ctx is None or not ctx.span_id:
        return None
    try:
        return parent.child(int(ctx.span_id, 16))
    except ValueError:
        return None


def stamp_start(ctx: TraceContext | None, now: datetime, execution: str = "") -> None:
    """First episode: write the orchestration span's ``SpanId``, ``Id`` and ``ActivityStartTime`` into
    the start's trace context (kept in the History row, read by every later episode). With
    ``execution`` (instance and execution id) the span id is derived from it and the parent span, so a
    repeated first episode (its checkpoint failed after sending) stamps the same id; else random."""
    parent = from_context(ctx)
    if parent is None or ctx is None or ctx.span_id:
        return
    me = parent.child(derived_span_id(parent.span_id, execution, 0) if execution else new_span_id())
    ctx.span_id = f"{me.span_id:016x}"
    ctx.id = me.traceparent
    ctx.activity_start_time = format_datetimeoffset(now)


def orchestration_attributes(
    name: str | None, instance: object, version: str | None = None
) -> dict[str, str]:
    """DTFx's span tags (``durabletask.*``, docs/observability.md) of an orchestration."""
    attrs = {"durabletask.type": "orchestration", "durabletask.task.name": name or ""}
    instance_id = getattr(instance, "instance_id", None)
    execution_id = getattr(instance, "execution_id", None)
    if instance_id:
        attrs["durabletask.task.instance_id"] = instance_id
    if execution_id:
        attrs["durabletask.task.execution_id"] = execution_id
    if version:
        attrs["durabletask.task.version"] = version
    return attrs


def event_attributes(name: str, target_instance_id: str) -> dict[str, str]:
    return {
        "durabletask.type": "event",
        "durabletask.event.name": name,
        "durabletask.event.instance_id": target_instance_id,
    }
