"""The timeline of one instance, drawn on the server as SVG. Pure: events in, markup out.

:func:`build_rows` makes one row per activity call, sub-orchestration, timer and external event name
(plus the orchestration itself on top). A retried call stays on its row: each attempt is its own bar.
:func:`render_svg` lays the rows out on a time axis whose long idle gaps (no activity, sub-orchestration,
event or episode running, e.g. under a long timer) are collapsed to a fixed width and marked, so a
one-day timer does not squeeze the seconds of work around it into a pixel.

Colours come from CSS classes (``ok``, ``fail``, ``open``, ``fired``, ``evt``), so the strict
Content-Security-Policy needs no inline style. Times on the axis and in the tooltips are offsets from
the start, which keeps the drawing the same in every time zone.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from taskhub.format.history import (
    EventRaisedEvent,
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    ExecutionTerminatedEvent,
    HistoryEvent,
    OrchestratorStartedEvent,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceCreatedEvent,
    SubOrchestrationInstanceFailedEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
    TimerFiredEvent,
)
from taskhub.http.dashboard.markup import Safe, fmt_duration, join, t

__all__ = ["Bar", "Row", "build_rows", "render_svg", "MAX_ROWS"]

MAX_ROWS = 250
"""Rows drawn at most; the rest are counted under the drawing (the history table has them all)."""

WIDTH, LABEL_W, ROW_H, TOP, GAP_W = 960, 210, 20, 28, 28


@dataclass
class Bar:
    start: datetime
    end: datetime | None  # None: still open
    outcome: str  # ok | fail | open | fired | point
    planned_end: datetime | None = None  # a timer's fire time


@dataclass
class Row:
    kind: str  # orchestration | activity | suborchestration | timer | event
    label: str
    bars: list[Bar] = field(default_factory=list)
    key: tuple[str, str | None] = ("", None)  # name and input: what makes a later call a retry

    @property
    def attempts(self) -> int:
        return len(self.bars)


def build_rows(events: list[HistoryEvent]) -> list[Row]:
    """One row per call (retries on the same row), timer and event name; the orchestration first."""
    rows: list[Row] = []
    orch = Row("orchestration", "orchestration")
    calls: dict[int, tuple[Row, Bar]] = {}
    timers: dict[int, Bar] = {}
    by_event: dict[str, Row] = {}
    retryable: dict[tuple[str, str, str | None], Row] = {}  # rows whose last attempt failed
    for e in events:
        if isinstance(e, ExecutionStartedEvent):
            orch.label = e.name or "orchestration"
            orch.bars.append(Bar(e.timestamp, None, "open"))
        elif isinstance(e, ExecutionCompletedEvent | ExecutionTerminatedEvent) and orch.bars:
            failed = isinstance(e, ExecutionTerminatedEvent) or e.orchestration_status.value != "Completed"
            orch.bars[-1].end, orch.bars[-1].outcome = e.timestamp, "fail" if failed else "ok"
        elif isinstance(e, TaskScheduledEvent | SubOrchestrationInstanceCreatedEvent):
            kind = "activity" if isinstance(e, TaskScheduledEvent) else "suborchestration"
            name = e.name or ""
            key = (kind, name, e.input)
            row = retryable.pop(key, None)
            if row is None:
                label = name if kind == "activity" else f"{name} ({getattr(e, 'instance_id', '') or ''})"
                row = Row(kind, label, key=(name, e.input))
                rows.append(row)
            bar = Bar(e.timestamp, None, "open")
            row.bars.append(bar)
            calls[e.event_id] = (row, bar)
        elif isinstance(
            e,
            TaskCompletedEvent
            | TaskFailedEvent
            | SubOrchestrationInstanceCompletedEvent
            | SubOrchestrationInstanceFailedEvent,
        ):
            found = calls.pop(e.task_scheduled_id, None)
            if found is None:
                continue
            row, bar = found
            bar.end = e.timestamp
            if isinstance(e, TaskFailedEvent | SubOrchestrationInstanceFailedEvent):
                bar.outcome = "fail"
                retryable[(row.kind, *row.key)] = row
            else:
                bar.outcome = "ok"
        elif isinstance(e, TimerCreatedEvent):
            bar = Bar(e.timestamp, None, "open", planned_end=e.fire_at)
            timers[e.event_id] = bar
            rows.append(Row("timer", "timer", [bar]))
        elif isinstance(e, TimerFiredEvent):
            fired = timers.pop(e.timer_id, None)
            if fired is not None:
                # TimerFired is stamped when the timer was set: the bar ends at its fire time
                fired.end = max(e.timestamp, e.fire_at or fired.planned_end or e.timestamp)
                fired.outcome = "fired"
        elif isinstance(e, EventRaisedEvent):
            name = e.name or ""
            if name not in by_event:
                by_event[name] = Row("event", name)
                rows.append(by_event[name])
            by_event[name].bars.append(Bar(e.timestamp, e.timestamp, "point"))
    _number_alike(rows)
    return ([orch] if orch.bars else []) + rows


def _number_alike(rows: list[Row]) -> None:
    """Rows that would read the same (the calls of a fan-out, several timers) get ``#1``, ``#2``, ... in
    the order they were scheduled, so that each bar can be told apart and found again."""
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.kind in ("activity", "timer"):
            seen[(row.kind, row.label)] = seen.get((row.kind, row.label), 0) + 1
    numbered: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row.kind, row.label)
        if seen.get(key, 0) > 1:
            numbered[key] = numbered.get(key, 0) + 1
            row.label = f"{row.label} #{numbered[key]}"


# -- layout -------------------------------------------------------------------------------------------


@dataclass
class _Segment:
    t0: float
    t1: float
    x0: float
    x1: float
    collapsed: bool


def _busy(rows: list[Row], episodes: list[float], now: float, ts: float) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    for row in rows:
        if row.kind in ("orchestration", "timer"):
            continue
        for b in row.bars:
            start = b.start.timestamp() - ts
            end = (b.end.timestamp() - ts) if b.end else now
            spans.append((start, end))
    spans += [(p, p) for p in episodes]
    spans.sort()
    merged: list[tuple[float, float]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _segments(busy: list[tuple[float, float]], end: float, width: float) -> list[_Segment]:
    """Piecewise-linear time -> x: gaps longer than max(5 s, 20 % of the span) get GAP_W pixels."""
    threshold = max(5.0, 0.2 * end)
    cuts: list[tuple[float, float, bool]] = []
    cursor = 0.0
    for s, e in [*busy, (end, end)]:
        if s - cursor > threshold:
            cuts.append((cursor, s, True))
        elif s > cursor:
            cuts.append((cursor, s, False))
        if e > cursor:
            cuts.append((max(cursor, s), e, False))
        cursor = max(cursor, e)
    cuts = [c for c in cuts if c[1] > c[0]]
    linear = sum(c[1] - c[0] for c in cuts if not c[2])
    room = width - GAP_W * sum(1 for c in cuts if c[2])
    scale = room / linear if linear > 0 else 0.0
    out: list[_Segment] = []
    x = 0.0
    for t0, t1, collapsed in cuts:
        w = GAP_W if collapsed else (t1 - t0) * scale
        out.append(_Segment(t0, t1, x, x + w, collapsed))
        x += w
    return out or [_Segment(0.0, max(end, 1e-9), 0.0, width, False)]


_STEPS = [m * 10.0**k for k in range(-3, 7) for m in (1, 2, 5)]


def _runs(segments: list[_Segment]) -> list[_Segment]:
    """Consecutive linear segments merged (they share one scale), so that the ticks of a stretch between
    two collapsed gaps fall on one even grid; collapsed gaps stay as they are."""
    out: list[_Segment] = []
    for s in segments:
        if out and not s.collapsed and not out[-1].collapsed:
            out[-1] = _Segment(out[-1].t0, s.t1, out[-1].x0, s.x1, False)
        else:
            out.append(s)
    return out


def _tick_times(s: _Segment) -> list[float]:
    """The stretch's start, then one tick every round step (1, 2 or 5 times a power of ten, about
    100 px): evenly spaced, ``+0.00 s, +0.20 s, +0.40 s`` (after a collapsed gap, from where it ends)."""
    width = s.x1 - s.x0
    if width <= 0 or s.t1 <= s.t0:
        return [s.t0]
    wanted = (s.t1 - s.t0) * 100 / width
    step = next((x for x in _STEPS if x >= wanted), _STEPS[-1])
    return [s.t0 + k * step for k in range(int((s.t1 - s.t0) / step + 1e-9) + 1)]


def _tick_label(at: float) -> str:
    """``0.40 s``, ``12.0 s``; past a minute ``1:00:00.5`` (h:mm:ss), exact enough after a long gap."""
    if at < 60:
        return fmt_duration(at)
    h, rest = divmod(at, 3600)
    m, sec = divmod(rest, 60)
    return f"{int(h)}:{int(m):02d}:{sec:04.1f}"


def _x(segments: list[_Segment], ends: list[float], at: float) -> float:
    """x of offset ``at``; ``ends`` are the segments' ``t1`` (sorted), for a binary search."""
    i = bisect_left(ends, at)
    if i == len(segments):
        return segments[-1].x1
    s = segments[i]
    if s.t1 == s.t0:
        return s.x0
    return s.x0 + (max(at, s.t0) - s.t0) / (s.t1 - s.t0) * (s.x1 - s.x0)


_TITLES = {"ok": "completed", "fail": "failed", "open": "running", "fired": "fired", "point": "received"}


def render_svg(events: list[HistoryEvent], now: datetime) -> Safe:
    """The timeline as an ``<svg>`` element (``now`` ends the bars of work still running)."""
    rows = build_rows(events)
    if not rows:
        return Safe('<p class="muted">No history yet.</p>')
    ts = min(b.start for r in rows for b in r.bars).timestamp()
    done = [b.end for r in rows for b in r.bars if b.end] + [
        b.planned_end for r in rows for b in r.bars if b.planned_end and b.end is None
    ]
    running = any(b.end is None for r in rows for b in r.bars)
    end = max([d.timestamp() for d in done] + ([now.timestamp()] if running else []) + [ts]) - ts
    now_off = max(0.0, now.timestamp() - ts)
    episodes = [e.timestamp.timestamp() - ts for e in events if isinstance(e, OrchestratorStartedEvent)]
    plot_w = WIDTH - LABEL_W - 12
    segs = _segments(_busy(rows, episodes, min(now_off, end), ts), end, plot_w)
    ends = [seg.t1 for seg in segs]
    shown, hidden = rows[:MAX_ROWS], len(rows) - MAX_ROWS
    height = TOP + ROW_H * len(shown) + 8

    def x(at: datetime | float) -> float:
        off = at if isinstance(at, float) else at.timestamp() - ts
        return round(LABEL_W + _x(segs, ends, off), 1)

    parts: list[Safe] = []
    last_tick = -1e9
    runs = _runs(segs)
    for n, s in enumerate(runs):
        before_gap = n + 1 < len(runs) and runs[n + 1].collapsed
        if s.collapsed:
            parts.append(
                t(
                    '<g class="gap"><title>idle {d} (collapsed)</title>'
                    '<rect x="{x}" y="{y}" width="{w}" height="{h}"/>'
                    '<text x="{tx}" y="9" text-anchor="middle">{d}</text></g>',
                    d=fmt_duration(s.t1 - s.t0),
                    x=round(LABEL_W + s.x0, 1),
                    y=TOP - 6,
                    w=round(s.x1 - s.x0, 1),
                    h=height - TOP,
                    tx=round(LABEL_W + (s.x0 + s.x1) / 2, 1),
                )
            )
        else:
            for at in _tick_times(s):
                tx = LABEL_W + _x(segs, ends, at)
                if tx - last_tick < 70 or tx > WIDTH - 50 or (before_gap and tx > LABEL_W + s.x1 - 40):
                    continue
                last_tick = tx
                parts.append(
                    t(
                        '<g class="tick"><line x1="{x}" y1="{y0}" x2="{x}" y2="{y1}"/>'
                        '<text x="{x}" y="{ty}">+{d}</text></g>',
                        x=round(tx, 1),
                        y0=TOP - 6,
                        y1=height,
                        ty=TOP - 10,
                        d=_tick_label(at),
                    )
                )
    for i, row in enumerate(shown):
        y = TOP + i * ROW_H
        label = row.label if len(row.label) <= 30 else row.label[:29] + "…"
        suffix = (
            f" ({row.attempts} attempts)"
            if row.kind in ("activity", "suborchestration") and row.attempts > 1
            else ""
        )
        bars = [_bar(row, b, x, y, ts, now) for b in row.bars]
        parts.append(
            t(
                '<g class="row {kind}" data-kind="{kind}"><text class="label" x="4" y="{ty}">'
                "<title>{full}</title>{label}{suffix}</text>{bars}</g>",
                kind=row.kind,
                ty=y + 14,
                full=row.label,
                label=label,
                suffix=suffix,
                bars=join(bars),
            )
        )
    note = (
        t('<p class="muted">{n} more rows are not drawn; the history table lists them.</p>', n=hidden)
        if hidden > 0
        else Safe("")
    )
    svg = t(
        '<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
        'width="{w}" height="{h}" role="img" aria-label="timeline of {n} rows">{body}</svg>',
        w=WIDTH,
        h=height,
        n=len(shown),
        body=join(parts),
    )
    return Safe(svg + note)


def _bar(row: Row, b: Bar, xf: Callable[[datetime], float], y: int, ts: float, now: datetime) -> Safe:
    start_off = b.start.timestamp() - ts
    if b.outcome == "point":
        cx = xf(b.start)
        return t(
            '<circle class="bar evt" cx="{cx}" cy="{cy}" r="5"><title>{label}: received at +{d}</title></circle>',
            cx=cx,
            cy=y + 10,
            label=row.label,
            d=fmt_duration(start_off),
        )
    end = b.end or (b.planned_end if row.kind == "timer" and b.planned_end else now)
    x0, x1 = xf(b.start), xf(end)
    cls = {"ok": "ok", "fail": "fail", "open": "open", "fired": "fired"}[b.outcome]
    what = _TITLES[b.outcome]
    took = fmt_duration((b.end - b.start).total_seconds()) if b.end else "still open"
    return t(
        '<rect class="bar {cls}" x="{x}" y="{y}" width="{w}" height="12" rx="2">'
        "<title>{label}: {what}, +{s}, {took}</title></rect>",
        cls=cls,
        x=x0,
        y=y + 4,
        w=round(max(x1 - x0, 2.0), 1),
        label=row.label,
        what=what,
        s=fmt_duration(start_off),
        took=took,
    )
