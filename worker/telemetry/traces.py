"""The orchestration and activity spans of a worker (docs/observability.md "Traces").

Following DTFx (``DurableTask.Core`` ``TraceHelper``): one ``orchestration:{name}`` span per execution,
its id written into ``ExecutionStarted.ParentTraceContext`` by the first episode and emitted once, by
the episode that completes the execution; an activity's and a sub-orchestration's client span and a
timer's span are emitted by the episode that receives their completion, starting at the time they were
scheduled. Everything is emitted after the episode's checkpoint has landed, and only for the messages
that episode consumed: a replay, a redelivered message that the history already holds, or an episode
whose checkpoint failed emits nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from taskhub.errors import FormatError
from taskhub.format.entities import (
    RequestMessage,
    is_entity_instance,
    is_request_event,
    parse_entity_instance_id,
)
from taskhub.format.history import (
    EventRaisedEvent,
    EventSentEvent,
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationStatus,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceCreatedEvent,
    SubOrchestrationInstanceFailedEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
    TimerFiredEvent,
    utcnow,
)
from taskhub.format.timefmt import parse_datetime
from taskhub.format.types import OrchestrationInstance, TraceContext
from taskhub.telemetry import spans
from taskhub.telemetry.tracing import (
    SpanRef,
    activity_name,
    derived_span_id,
    entity_name,
    event_name,
    from_context,
    orchestration_attributes,
    orchestration_name,
    orchestration_span,
    stamp_start,
    timer_name,
)
from worker.engine.episode import Episode

log = logging.getLogger(__name__)

__all__ = ["activity_span", "after_checkpoint", "before_episode", "entity_spans", "stamp_outbound"]


@spans.guarded
def before_episode(incoming: Sequence[HistoryEvent], now: datetime) -> None:
    """A new execution's first episode: give the orchestration span its id (kept in the history)."""
    if not spans.enabled():
        return
    for e in incoming:
        if isinstance(e, ExecutionStartedEvent):
            stamp_start(e.parent_trace_context, now, _execution(e))


def _execution(e: ExecutionStartedEvent) -> str:
    inst = e.orchestration_instance
    return f"orchestration:{inst.instance_id if inst else ''}:{inst.execution_id if inst else ''}"


def _client_span(orch: SpanRef, kind: str, task_id: int, carried: TraceContext | None = None) -> SpanRef:
    known = from_context(carried)
    return known if known is not None else orch.child(derived_span_id(orch.span_id, kind, task_id))


def stamp_outbound(episode: Episode) -> TraceContext | None:
    """Put the trace context where DTFx carries it on what the episode sends: the activity's client span
    on ``TaskScheduled``, the sub-orchestration's client span on its ``ExecutionStarted``, the
    orchestration span on events (and entity calls) it raises.

    After a continue-as-new the new execution gets a span of its own (its start carried the old one's
    context): returns the ended execution's context, for :func:`after_checkpoint` to emit its span."""
    try:
        return _stamp_outbound(episode)
    except Exception as err:  # telemetry never fails the episode
        log.warning("telemetry.hook_failed hook=stamp_outbound error=%r", err)
        return None


def _stamp_outbound(episode: Episode) -> TraceContext | None:
    ended: TraceContext | None = None
    started = episode.started
    if (
        episode.continued_as_new
        and started.parent_trace_context is not None
        and started.parent_trace_context.span_id
    ):
        ended = started.parent_trace_context
        started.parent_trace_context = TraceContext(
            trace_parent=ended.trace_parent, trace_state=ended.trace_state
        )
        if spans.enabled():
            stamp_start(started.parent_trace_context, started.timestamp, _execution(started))
    orch = orchestration_span(started.parent_trace_context)
    if orch is None:
        return ended
    for o in episode.outbound:
        e = o.event
        if getattr(e, "parent_trace_context", "no such field") is not None:
            continue  # carried already, or an event that carries none
        if isinstance(e, TaskScheduledEvent):
            e.parent_trace_context = _client_span(orch, "activity", e.event_id).context()
        elif isinstance(e, ExecutionStartedEvent) and e.parent_instance is not None:
            task_id = e.parent_instance.task_schedule_id or 0
            e.parent_trace_context = _client_span(orch, "orchestration", task_id).context()
        elif isinstance(e, EventRaisedEvent):
            e.parent_trace_context = orch.context()
    return ended


def _start_of(ctx: TraceContext | None, fallback: datetime) -> datetime:
    if ctx is not None and ctx.activity_start_time:
        try:
            return parse_datetime(ctx.activity_start_time)
        except FormatError:
            pass
    return fallback


@spans.guarded
def after_checkpoint(
    instance_id: str,
    episode: Episode,
    incoming: Sequence[HistoryEvent],
    past: Sequence[HistoryEvent],
    ended: TraceContext | None = None,
) -> None:
    """The spans this episode completes (see the module docstring); call once its checkpoint landed.
    ``past``: the execution's history before the episode. ``ended``: the context of the execution a
    continue-as-new ended (from :func:`stamp_outbound`); the completions the episode took in belong to
    that execution."""
    started = episode.started
    if not spans.enabled():
        return
    current = orchestration_span(started.parent_trace_context)
    ended_span = orchestration_span(ended)
    # after a continue-as-new, what the episode took in belongs to the execution it ended
    orch = ended_span if episode.continued_as_new else current
    history = list(past) if episode.continued_as_new else [*past, *episode.history]
    now = utcnow()
    if ended is not None and ended_span is not None:
        attrs_ended: dict[str, str | int | bool] = {
            **orchestration_attributes(
                started.name, OrchestrationInstance(instance_id, None), started.version
            ),
            "durabletask.task.status": "ContinuedAsNew",
        }
        spans.emit(orchestration_name(started.name, started.version), "server", from_context(ended),
                   start=_start_of(ended, started.timestamp), end=now, span_id=ended_span.span_id,
                   attributes=attrs_ended)  # fmt: skip
    if orch is not None:
        _completions(orch, instance_id, started.name, incoming, history, now)
    if current is not None:
        _events_sent(current, instance_id, episode.history, now)
    status = episode.runtime_status
    if current is not None and status.is_terminal:
        attrs = {**orchestration_attributes(started.name, started.orchestration_instance, started.version),
                 "durabletask.task.status": status.value}  # fmt: skip
        failed = status is OrchestrationStatus.FAILED
        error = str(episode.failure_details or "failed") if failed else None
        spans.emit(orchestration_name(started.name, started.version), "server", from_context(started.parent_trace_context),
                   start=_start_of(started.parent_trace_context, started.timestamp), end=now, span_id=current.span_id,
                   attributes=attrs, error=error)  # fmt: skip


def _completions(
    orch: SpanRef, instance_id: str, orchestration: str | None, incoming: Sequence[HistoryEvent],
    history: Sequence[HistoryEvent], now: datetime,
) -> None:  # fmt: skip
    """The client spans of the activities and sub-orchestrations, and the timers, whose completion the
    episode took in."""
    scheduled = {
        e.event_id: e
        for e in history
        if isinstance(e, TaskScheduledEvent | SubOrchestrationInstanceCreatedEvent | TimerCreatedEvent)
    }
    base: dict[str, str | int | bool] = {"durabletask.task.instance_id": instance_id}
    for e in incoming:
        if isinstance(e, TaskCompletedEvent | TaskFailedEvent):
            s = scheduled.get(e.task_scheduled_id)
            if isinstance(s, TaskScheduledEvent):
                ref = _client_span(orch, "activity", s.event_id, s.parent_trace_context)
                attrs: dict[str, str | int | bool] = {**base, "durabletask.type": "activity", "durabletask.task.name": s.name or "",
                         "durabletask.task.task_id": s.event_id}  # fmt: skip
                error = (e.reason or "activity failed") if isinstance(e, TaskFailedEvent) else None
                spans.emit(activity_name(s.name, s.version), "client", orch, start=s.timestamp, end=now,
                           span_id=ref.span_id, attributes=attrs, error=error)  # fmt: skip
        elif isinstance(e, SubOrchestrationInstanceCompletedEvent | SubOrchestrationInstanceFailedEvent):
            s = scheduled.get(e.task_scheduled_id)
            if isinstance(s, SubOrchestrationInstanceCreatedEvent):
                ref = _client_span(orch, "orchestration", s.event_id)
                attrs = {**base, "durabletask.type": "orchestration", "durabletask.task.name": s.name or ""}
                error = (e.reason or "failed") if isinstance(e, SubOrchestrationInstanceFailedEvent) else None
                spans.emit(orchestration_name(s.name, s.version), "client", orch, start=s.timestamp, end=now,
                           span_id=ref.span_id, attributes=attrs, error=error)  # fmt: skip
        elif isinstance(e, TimerFiredEvent):
            s = scheduled.get(e.timer_id)
            if isinstance(s, TimerCreatedEvent):
                attrs = {**base, "durabletask.type": "timer", "durabletask.task.task_id": s.event_id,
                         "durabletask.fire_at": s.fire_at.isoformat() if s.fire_at else ""}  # fmt: skip
                spans.emit(
                    timer_name(orchestration), "internal", orch, start=s.timestamp, end=now, attributes=attrs
                )


def _events_sent(orch: SpanRef, instance_id: str, new: Sequence[HistoryEvent], now: datetime) -> None:
    """An ``orchestration_event:{name}`` producer span per event the episode sent to another
    orchestration (entity calls have their entity span)."""
    for e in new:
        if isinstance(e, EventSentEvent) and not is_entity_instance(e.instance_id):
            attrs: dict[str, str | int | bool] = {
                "durabletask.type": "event",
                "durabletask.event.name": e.name or "",
                "durabletask.event.instance_id": e.instance_id or "",
                "durabletask.task.instance_id": instance_id,
            }
            spans.emit(event_name(e.name), "producer", orch, start=e.timestamp, end=now, attributes=attrs)


@spans.guarded
def activity_span(event: TaskScheduledEvent, instance_id: str, start: datetime, result: HistoryEvent) -> None:
    """The activity's server span, child of the client span carried on its ``TaskScheduled``."""
    parent = from_context(event.parent_trace_context) if spans.enabled() else None
    if parent is None:
        return
    attrs: dict[str, str | int | bool] = {"durabletask.type": "activity", "durabletask.task.name": event.name or "",
             "durabletask.task.instance_id": instance_id, "durabletask.task.task_id": event.event_id}  # fmt: skip
    error = (result.reason or "activity failed") if isinstance(result, TaskFailedEvent) else None
    spans.emit(
        activity_name(event.name, event.version), "server", parent, start=start, attributes=attrs, error=error
    )


@spans.guarded
def entity_spans(instance_id: str, incoming: Sequence[HistoryEvent], start: datetime) -> None:
    """One ``entity:{name}:{operation}`` server span per operation request this batch took in, child of
    the caller's span carried on the request's ``EventRaised`` (a request queued behind a lock is
    counted in the batch that took it in)."""
    if not spans.enabled():
        return
    entity = parse_entity_instance_id(instance_id)[0]
    for e in incoming:
        parent = from_context(getattr(e, "parent_trace_context", None))
        if parent is None or not isinstance(e, EventRaisedEvent) or not is_request_event(e.name):
            continue
        try:
            request = RequestMessage.from_json(e.input)
        except (FormatError, ValueError):
            continue
        if request.op is None:
            continue  # a lock request
        attrs: dict[str, str | int | bool] = {"durabletask.type": "entity", "durabletask.task.name": entity,
                 "durabletask.task.instance_id": instance_id, "durabletask.entity.operation": request.op}  # fmt: skip
        spans.emit(entity_name(entity, request.op), "server", parent, start=start, attributes=attrs)
