"""The page of one instance: summary, payloads, failure, parent and children, the "waiting on" banner,
actions, the timeline and the folded history table with its type filter and paging. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from taskhub.client.status import OrchestrationState
from taskhub.format.history import (
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    HistoryEvent,
    SubOrchestrationInstanceCreatedEvent,
)
from taskhub.http.dashboard.folding import HistoryRow, Waiting, filter_rows, fold
from taskhub.http.dashboard.layout import PREFIX, Frame, hidden_inputs, layout, status_badge
from taskhub.http.dashboard.list_page import duration_of, instance_link
from taskhub.http.dashboard.markup import Safe, fmt_duration, join, path_segment, pretty_json, t
from taskhub.http.dashboard.payloads import SDK_NOTE, decode_once
from taskhub.http.dashboard.timeline import render_svg

if TYPE_CHECKING:
    from taskhub.client.service import QueuedMessage

__all__ = ["InstanceView", "render_instance", "HISTORY_PAGE", "ACTION_LABELS", "allowed_actions"]

HISTORY_PAGE = 100
_EPISODE = {"OrchestratorStarted", "OrchestratorCompleted"}
"""Episode markers: left out of the history table unless picked in its filter."""

ACTION_LABELS = {
    "raise": "Raise event",
    "suspend": "Suspend",
    "resume": "Resume",
    "terminate": "Terminate",
    "restart": "Restart",
    "rewind": "Rewind",
    "purge": "Purge",
}


_DONE = {
    "start": "Started: the worker runs it when it takes the start message.",
    "raise": "Event sent: the worker delivers it with the next episode.",
    "suspend": "Suspend requested: the status changes when the worker processes the message.",
    "resume": "Resume requested: the status changes when the worker processes the message.",
    "terminate": "Terminate requested: the status changes when the worker processes the message.",
    "restart": "Restarted with the same input.",
    "rewind": "Rewind requested: the failed work runs again.",
}


def allowed_actions(status: str, *, can_rewind: bool) -> list[str]:
    """The actions that make sense for an instance in ``status``."""
    active = status in ("Running", "Pending", "Suspended", "ContinuedAsNew")
    out = []
    if active:
        out += ["raise", "resume" if status == "Suspended" else "suspend", "terminate"]
    out.append("restart")
    if can_rewind and status == "Failed":
        out.append("rewind")
    out.append("purge")
    return out


@dataclass
class InstanceView:
    state: OrchestrationState
    events: list[HistoryEvent]
    waiting: Waiting
    queue: str = ""
    queue_depth: int | None = None
    queued: list[QueuedMessage] = field(default_factory=list)
    types: set[str] = field(default_factory=set)  # history filter
    page: int = 1
    can_rewind: bool = False
    done: str = ""  # the action just requested (``?done=``), confirmed above the summary


def _payload(title: str, value: Any, present: bool) -> Safe:
    if not present:
        return t(
            '<details class="payload"><summary>{title}: <span class="muted">none</span></summary></details>',
            title=title,
        )
    value, decoded = decode_once(value)
    text, cut = pretty_json(value)
    note = join(
        [
            t('<p class="muted">{n}</p>', n=SDK_NOTE) if decoded else "",
            t('<p class="muted">Cut at {n} characters; the JSON download has it all.</p>', n=len(text))
            if cut
            else "",
        ]
    )
    return t(
        '<details class="payload"{open}><summary>{title} <span class="muted">({n} chars)</span></summary>'
        "<pre>{text}</pre>{note}</details>",
        open=Safe(" open") if len(text) < 2000 else Safe(""),
        title=title,
        n=len(text),
        text=text,
        note=note,
    )


def _age(now: datetime, since: datetime | None) -> str:
    return fmt_duration(now - since) if since else ""


def _banner(frame: Frame, v: InstanceView, now: datetime) -> Safe:
    items: list[Safe] = []
    status = v.state.runtime_status.value
    if v.waiting.suspended or status == "Suspended":
        items.append(
            t(
                "<li>Suspended{r}</li>",
                r=f": {v.waiting.suspended_reason}" if v.waiting.suspended_reason else "",
            )
        )
    if status == "Pending":
        depth = "unknown" if v.queue_depth is None else str(v.queue_depth)
        start = v.state.scheduled_start_at
        items.append(
            t(
                "<li>Pending: its start message is in control queue <code>{q}</code> ({d} messages){s}</li>",
                q=v.queue,
                d=depth,
                s=f"; scheduled to start at {frame.tz.format(start)} ({frame.tz.name})" if start else "",
            )
        )
    for name, since in v.waiting.activities:
        items.append(
            t(
                '<li class="w-activity">Activity <b>{n}</b>, scheduled {a} ago</li>',
                n=name,
                a=_age(now, since),
            )
        )
    for name, since in v.waiting.suborchestrations:
        items.append(t("<li>Sub-orchestration <b>{n}</b>, started {a} ago</li>", n=name, a=_age(now, since)))
    for fire in v.waiting.timers:
        left = fmt_duration(fire - now) if fire > now else "due now"
        items.append(
            t(
                "<li>Timer firing at {f} ({z}), in {left}</li>",
                f=frame.tz.format(fire),
                z=frame.tz.name,
                left=left,
            )
        )
    for m in v.queued:
        items.append(
            t(
                "<li>Received, not yet processed: {ty}{n} (in <code>{q}</code> for {a})</li>",
                ty=m.event_type,
                n=f" {m.name!r}" if m.name else "",
                q=v.queue,
                a=_age(now, m.inserted_on),
            )
        )
    if not items:
        if v.state.runtime_status.value in ("Running",):
            items.append(
                Safe(
                    "<li>Nothing open in its history: an external event it waits for, or its next episode</li>"
                )
            )
        else:
            return Safe("")
    return t(
        '<section class="waiting" aria-label="waiting on"><h2>Waiting on</h2><ul>{items}</ul></section>',
        items=join(items),
    )


def _relations(frame: Frame, events: list[HistoryEvent]) -> Safe:
    parent = None
    children: list[tuple[str, str]] = []
    for e in events:
        if (
            isinstance(e, ExecutionStartedEvent)
            and e.parent_instance
            and e.parent_instance.orchestration_instance
        ):
            parent = e.parent_instance.orchestration_instance.instance_id
        elif isinstance(e, SubOrchestrationInstanceCreatedEvent) and e.instance_id:
            children.append((e.instance_id, e.name or ""))
    parts: list[Safe] = []
    if parent:
        parts.append(
            t('<p>Parent: <a class="parent" href="{u}">{p}</a></p>', u=instance_link(frame, parent), p=parent)
        )
    if children:
        links = join(
            t('<li><a class="child" href="{u}">{c}</a> {n}</li>', u=instance_link(frame, c), c=c, n=n)
            for c, n in children
        )
        parts.append(
            t(
                "<details><summary>Children ({n})</summary><ul>{links}</ul></details>",
                n=len(children),
                links=links,
            )
        )
    return join(parts)


def _failure(state: OrchestrationState, events: list[HistoryEvent]) -> Safe:
    details = state.failure_details
    if details is None:
        for e in reversed(events):
            if isinstance(e, ExecutionCompletedEvent) and e.failure_details:
                details = e.failure_details
                break
    if details is None:
        return Safe("")
    return t(
        '<section class="failure"><h2>Failure</h2><p class="error">{ty}: {msg}</p>{stack}</section>',
        ty=details.error_type,
        msg=details.message,
        stack=t("<details><summary>Stack trace</summary><pre>{s}</pre></details>", s=details.stack_trace)
        if details.stack_trace
        else "",
    )


def _actions(frame: Frame, v: InstanceView) -> Safe:
    if frame.read_only:
        return Safe("")
    base = f"{PREFIX}/instances/{path_segment(v.state.instance_id)}/"
    links = join(
        t(
            '<a class="button{d}" href="{u}" data-action="{a}">{label}</a> ',
            d=" danger" if a in ("terminate", "purge") else "",
            u=frame.link(base + a),
            a=a,
            label=ACTION_LABELS[a],
        )
        for a in allowed_actions(v.state.runtime_status.value, can_rewind=v.can_rewind)
    )
    return t('<p class="actions">{links}</p>', links=links)


def _history(frame: Frame, v: InstanceView) -> Safe:
    rows = fold(v.events)
    present = sorted({ty.name for r in rows for ty in r.types})
    chosen = v.types or {n for n in present if n not in _EPISODE}
    shown = filter_rows(rows, chosen)
    pages = max(1, -(-len(shown) // HISTORY_PAGE))
    page = min(max(1, v.page), pages)
    chunk = shown[(page - 1) * HISTORY_PAGE : page * HISTORY_PAGE]
    base = f"{PREFIX}/instances/{path_segment(v.state.instance_id)}"
    boxes = join(
        t(
            '<label class="check"><input type="checkbox" name="type" value="{n}"{c}> {n}</label>',
            n=n,
            c=Safe(" checked") if n in chosen else Safe(""),
        )
        for n in present
    )
    form = t(
        '<form class="history-filter" method="get" action="{a}">{hidden}<fieldset><legend>Event types</legend>{boxes}'
        '</fieldset><button type="submit">Filter</button> <a href="{all}">All</a> '
        '<a href="{json}" download>Download JSON</a></form>',
        a=base,
        hidden=hidden_inputs([("taskHub", frame.hub), ("tz", "" if frame.tz.is_utc else frame.tz.name)]),
        boxes=boxes,
        all=frame.link(base),
        json=frame.link(base + "/history.json"),
    )
    body = join(_history_row(frame, r) for r in chunk)
    params = [("type", ty) for ty in sorted(v.types)]
    nav = []
    if page > 1:
        nav.append(t('<a href="{u}">Previous</a>', u=frame.link(base, [*params, ("hpage", page - 1)])))
    if page < pages:
        nav.append(t('<a rel="next" href="{u}">Next</a>', u=frame.link(base, [*params, ("hpage", page + 1)])))
    return t(
        '<section class="history"><h2>History <small>{n} events, {r} rows</small></h2>{form}'
        '<div class="scroll"><table class="history"><thead><tr><th>#</th><th>{when}</th><th>Type</th><th>Name</th>'
        "<th>Took</th><th>Input / result</th></tr></thead><tbody>{body}</tbody></table></div>"
        '<nav class="pager">page {p} of {pages} {nav}</nav></section>',
        n=len(v.events),
        r=len(shown),
        form=form,
        when=frame.tz.header("Time"),
        body=body,
        p=page,
        pages=pages,
        nav=join(nav, " "),
    )


def _history_row(frame: Frame, r: HistoryRow) -> Safe:
    took = fmt_duration(r.duration) if r.duration is not None else ("open" if r.outcome == "open" else "")
    fires = f"fires at {frame.tz.format(r.fire_at)}" if r.fire_at else ""
    detail = " ⇒ ".join(x for x in (r.input, r.detail, fires) if x)
    return t(
        '<tr class="o-{o}"><td class="num">{i}</td><td class="time">{when}</td><td>{ty}</td><td>{name}</td>'
        '<td class="num">{took}</td><td class="detail">{d}</td></tr>',
        o=r.outcome,
        i=r.position,
        when=frame.tz.format(r.started),
        ty=r.type_label,
        name=r.name,
        took=took,
        d=detail,
    )


def render_instance(frame: Frame, v: InstanceView, now: datetime, *, refresh: int = 0) -> str:
    s = v.state
    z = frame.tz
    summary = t(
        '<dl class="summary"><dt>Name</dt><dd>{name}</dd><dt>Version</dt><dd>{version}</dd>'
        "<dt>Status</dt><dd>{status}</dd>"
        "<dt>{c}</dt><dd>{created}</dd><dt>{u}</dt><dd>{updated}</dd><dt>Duration</dt><dd>{dur}</dd>"
        "<dt>Execution</dt><dd><code>{ex}</code></dd></dl>",
        name=s.name,
        version=s.version or "(none)",
        status=status_badge(s.runtime_status.value),
        c=z.header("Created"),
        created=z.format(s.created_at),
        u=z.header("Last updated"),
        updated=z.format(s.last_updated_at),
        dur=duration_of(s, now),
        ex=s.execution_id or "",
    )
    notice = Safe("")
    if v.done in _DONE:
        notice = t('<p class="notice" role="status">{m}</p>', m=_DONE[v.done])
    body = t(
        '<h1 class="iid">{id}</h1>{notice}{summary}{rel}{banner}{actions}{failure}'
        '<section class="payloads">{inp}{out}{custom}</section>'
        '<section><h2>Timeline</h2><div class="scroll">{svg}</div></section>{history}',
        id=s.instance_id,
        notice=notice,
        summary=summary,
        rel=_relations(frame, v.events),
        banner=_banner(frame, v, now),
        actions=_actions(frame, v),
        failure=_failure(s, v.events),
        inp=_payload("Input", s.input, s.serialized_input is not None),
        out=_payload("Output", s.output, s.serialized_output is not None),
        custom=_payload("Custom status", s.custom_status, s.serialized_custom_status is not None),
        svg=render_svg(v.events, now),
        history=_history(frame, v),
    )
    return layout(frame, f"{s.instance_id} · {s.name}", body, refresh=refresh)
