"""History as the dashboard shows it: scheduled/completed pairs folded into one row, and what an
instance is waiting on. Pure: events in, rows out (no storage, no asyncio).

* :func:`fold` turns history events into :class:`HistoryRow` s: ``TaskScheduled`` + ``TaskCompleted`` /
  ``TaskFailed``, ``SubOrchestrationInstanceCreated`` + its completion, and ``TimerCreated`` +
  ``TimerFired`` become one row each (with both times); every other event is a row of its own.
* :func:`waiting_on` lists what is still open after the last event: activities and sub-orchestrations
  scheduled and not finished (with their age), timers not fired (with their fire time), and the
  suspension, if the instance is suspended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from taskhub.format.history import (
    EventRaisedEvent,
    EventSentEvent,
    EventType,
    ExecutionCompletedEvent,
    ExecutionResumedEvent,
    ExecutionStartedEvent,
    ExecutionSuspendedEvent,
    ExecutionTerminatedEvent,
    HistoryEvent,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceCreatedEvent,
    SubOrchestrationInstanceFailedEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
    TimerFiredEvent,
)
from taskhub.http.dashboard.payloads import preview_text

__all__ = ["HistoryRow", "Waiting", "fold", "filter_rows", "waiting_on", "payload_preview"]

PREVIEW = 160
"""Characters of an input or result shown in a history row."""

_SCHEDULES = (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated, EventType.TimerCreated)


def payload_preview(text: str | None, limit: int = PREVIEW) -> str:
    """The payload's JSON text (a Durable Functions SDK app's decoded once), cut at ``limit``."""
    if not text:
        return ""
    text = preview_text(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class HistoryRow:
    """One line of the history table: one event, or a scheduling event folded with its outcome."""

    position: int  # index of the (first) event in the history
    kind: str  # activity | suborchestration | timer | event | orchestration | episode | other
    types: list[EventType]
    name: str
    started: datetime
    ended: datetime | None = None
    outcome: str = "info"  # completed | failed | open | fired | info
    event_id: int = -1
    detail: str = ""
    input: str = ""
    fire_at: datetime | None = None  # timers

    @property
    def type_label(self) -> str:
        return " → ".join(t.name for t in self.types)

    @property
    def duration(self) -> timedelta | None:
        return None if self.ended is None else self.ended - self.started


def _failure_text(event: Any) -> str:
    details = getattr(event, "failure_details", None)
    if details is not None:
        return f"{details.error_type}: {details.message}"
    return str(getattr(event, "reason", None) or getattr(event, "details", None) or "")


def _single(position: int, e: HistoryEvent) -> HistoryRow:
    kind, name, detail, outcome, inp = "other", "", "", "info", ""
    if isinstance(e, ExecutionStartedEvent):
        kind, name, inp = "orchestration", e.name or "", payload_preview(e.input)
    elif isinstance(e, ExecutionCompletedEvent):
        status = e.orchestration_status.value
        kind, name = "orchestration", status
        outcome = "failed" if status == "Failed" else "completed"
        detail = _failure_text(e) if e.failure_details else payload_preview(e.result)
    elif isinstance(e, ExecutionTerminatedEvent):
        kind, name, outcome, detail = "orchestration", "Terminated", "failed", payload_preview(e.input)
    elif isinstance(e, ExecutionSuspendedEvent | ExecutionResumedEvent):
        kind, detail = "orchestration", e.reason or ""
    elif isinstance(e, EventRaisedEvent):
        kind, name, inp = "event", e.name or "", payload_preview(e.input)
    elif isinstance(e, EventSentEvent):
        kind, name, inp = "event", f"{e.name or ''} → {e.instance_id or ''}", payload_preview(e.input)
    elif e.event_type in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted):
        kind = "episode"
    return HistoryRow(
        position, kind, [e.event_type], name, e.timestamp, None, outcome, e.event_id, detail, inp
    )


def fold(events: list[HistoryEvent]) -> list[HistoryRow]:
    """History rows in the order of their first event, scheduling events folded with their outcome."""
    rows: list[HistoryRow] = []
    open_tasks: dict[int, HistoryRow] = {}
    open_subs: dict[int, HistoryRow] = {}
    open_timers: dict[int, HistoryRow] = {}
    for i, e in enumerate(events):
        if isinstance(e, TaskScheduledEvent):
            row = HistoryRow(
                i,
                "activity",
                [e.event_type],
                e.name or "",
                e.timestamp,
                None,
                "open",
                e.event_id,
                "",
                payload_preview(e.input),
            )
            open_tasks[e.event_id] = row
        elif isinstance(e, SubOrchestrationInstanceCreatedEvent):
            label = f"{e.name or ''} ({e.instance_id or ''})"
            row = HistoryRow(
                i,
                "suborchestration",
                [e.event_type],
                label,
                e.timestamp,
                None,
                "open",
                e.event_id,
                "",
                payload_preview(e.input),
            )
            open_subs[e.event_id] = row
        elif isinstance(e, TimerCreatedEvent):
            row = HistoryRow(i, "timer", [e.event_type], "timer", e.timestamp, None, "open", e.event_id)
            row.fire_at = e.fire_at
            open_timers[e.event_id] = row
        elif isinstance(e, TaskCompletedEvent | TaskFailedEvent) and e.task_scheduled_id in open_tasks:
            _close(open_tasks.pop(e.task_scheduled_id), e)
            continue
        elif (
            isinstance(e, SubOrchestrationInstanceCompletedEvent | SubOrchestrationInstanceFailedEvent)
            and e.task_scheduled_id in open_subs
        ):
            _close(open_subs.pop(e.task_scheduled_id), e)
            continue
        elif isinstance(e, TimerFiredEvent) and e.timer_id in open_timers:
            row = open_timers.pop(e.timer_id)
            row.types.append(e.event_type)
            # TimerFired carries the time it was created (with the timer), so it ends at its fire time
            row.ended, row.outcome = max(e.timestamp, e.fire_at or e.timestamp), "fired"
            continue
        else:
            row = _single(i, e)
        rows.append(row)
    return rows


def _close(row: HistoryRow, e: HistoryEvent) -> None:
    row.types.append(e.event_type)
    row.ended = e.timestamp
    if isinstance(e, TaskFailedEvent | SubOrchestrationInstanceFailedEvent):
        row.outcome, row.detail = "failed", _failure_text(e)
    else:
        row.outcome, row.detail = "completed", payload_preview(getattr(e, "result", None))


def filter_rows(rows: list[HistoryRow], types: set[str] | None) -> list[HistoryRow]:
    """Rows with at least one event of the named types (all rows when ``types`` is empty)."""
    if not types:
        return rows
    return [r for r in rows if any(t.name in types for t in r.types)]


@dataclass
class Waiting:
    """What an instance waits on, from its history (the handler adds what its queue holds)."""

    activities: list[tuple[str, datetime]] = field(default_factory=list)  # name, scheduled at
    suborchestrations: list[tuple[str, datetime]] = field(default_factory=list)
    timers: list[datetime] = field(default_factory=list)  # fire times
    suspended_reason: str | None = None
    suspended: bool = False

    @property
    def empty(self) -> bool:
        return not (self.activities or self.suborchestrations or self.timers or self.suspended)


def waiting_on(events: list[HistoryEvent]) -> Waiting:
    """The open work of the instance after its last event (nothing once it has completed)."""
    w = Waiting()
    rows = fold(events)
    if any(isinstance(e, ExecutionCompletedEvent) for e in events):
        return w
    for r in rows:
        if r.outcome != "open":
            continue
        if r.kind == "activity":
            w.activities.append((r.name, r.started))
        elif r.kind == "suborchestration":
            w.suborchestrations.append((r.name, r.started))
    fired = {e.timer_id for e in events if isinstance(e, TimerFiredEvent)}
    for e in events:
        if isinstance(e, TimerCreatedEvent) and e.fire_at is not None:
            if e.event_id not in fired:
                w.timers.append(e.fire_at)
        elif isinstance(e, ExecutionSuspendedEvent):
            w.suspended, w.suspended_reason = True, e.reason
        elif isinstance(e, ExecutionResumedEvent):
            w.suspended, w.suspended_reason = False, None
    return w
