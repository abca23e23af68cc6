"""The hub health page, the confirmation pages of actions (one instance or a whole filter), the start
form and the progress page of a bulk job. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from taskhub.http.dashboard.layout import PREFIX, Frame, hidden_inputs, layout, status_badge
from taskhub.http.dashboard.markup import Safe, fmt_duration, join, path_segment, t

if TYPE_CHECKING:
    from taskhub.client.service import HubHealth, QueueHealth

__all__ = ["render_health", "render_confirm", "render_bulk_confirm", "render_start", "Job", "render_job"]

_EXPLAIN = {
    "raise": "Send an external event to the instance.",
    "suspend": "The instance stops processing events until it is resumed.",
    "resume": "The instance processes the events it buffered while suspended.",
    "terminate": "The instance stops for good; its status becomes Terminated with the reason as output.",
    "restart": "Start the orchestration again with the same input.",
    "rewind": "Replay the failed instance from before its failures.",
    "purge": "Delete the instance's history, status row and large payloads. This cannot be undone.",
}


_HELD = (
    "Every message in this queue is invisible for now: held by a worker that is processing it, or "
    "delayed (a durable timer's message stays invisible until the timer fires). Azure Storage shows "
    "the age of visible messages only."
)


def _age(q: QueueHealth | None) -> str:
    """The oldest visible message's age; ``empty``; ``all held`` (with why) when none is visible."""
    if q is None or q.depth is None:
        return "" if q is not None else "empty"
    if q.oldest_age is not None:
        return fmt_duration(q.oldest_age)
    if q.depth == 0:
        return "empty"
    return t('<span class="held" title="{why}">all held (invisible)</span>', why=_HELD)


_MANAGER = {
    "blobs": "Partitions are balanced with lease blobs (owner: the ownership lease; intent: the intent lease; "
    "Azure Storage does not report when a blob lease expires).",
    "table": "Partitions are balanced with the Partitions table (owner: CurrentOwner until ExpiresAt; "
    "intent owner: NextOwner while a steal is under way).",
}


def render_health(frame: Frame, h: HubHealth) -> str:
    z = frame.tz
    rows = join(
        t(
            '<tr><td><code>{n}</code></td><td class="num">{d}</td><td class="num">{age}</td><td>{owner}</td>'
            "<td>{state}</td><td>{intent}</td><td>{err}</td></tr>",
            n=q.name,
            d="" if q.depth is None else q.depth,
            age=_age(q),
            owner=q.owner or "none",
            state=q.lease_state or "",
            intent=q.intent_owner or "none",
            err=q.error or "",
        )
        for q in h.control_queues
    )
    w = h.work_items
    workers = join(t("<li><code>{w}</code></li>", w=x) for x in h.workers) or Safe("<li>none seen</li>")
    large = "" if h.large_messages is None else f"{h.large_messages}{'+' if h.large_messages_capped else ''}"
    errors = join(t('<p class="error">{e}</p>', e=e) for e in h.errors)
    body = t(
        '<h1>Health <small>{hub}</small></h1><p class="muted">Read at {at} ({zone}). {manager} A held lease lapses {li} '
        "after its owner last renewed it. The oldest message age "
        "counts visible messages only: <em>all held (invisible)</em> means every message of the queue is "
        "being processed by a worker or delayed (a timer's message waits invisible until it fires).</p>{errors}"
        '<h2>Control queues</h2><div class="scroll"><table class="health"><thead><tr><th>Queue</th><th>Depth</th>'
        "<th>Oldest message age</th><th>Lease owner</th><th>Lease</th><th>Intent owner</th><th></th></tr></thead>"
        "<tbody>{rows}</tbody></table></div>"
        '<h2>Other queues and blobs</h2><dl class="summary"><dt>Work-item queue depth</dt><dd>{wd}</dd>'
        "<dt>Oldest work item age</dt><dd>{wa}</dd><dt>Poison messages</dt><dd>{poison}</dd>"
        "<dt>Large-message blobs</dt><dd>{large}</dd></dl><h2>Workers seen (lease owners)</h2><ul>{workers}</ul>",
        hub=h.hub,
        manager=_MANAGER[h.manager],
        at=z.format(h.read_at, seconds_only=True),
        zone=z.name,
        li=fmt_duration(h.lease_interval),
        errors=errors,
        rows=rows,
        wd="" if w is None or w.depth is None else w.depth,
        wa=_age(w),
        poison=h.poison_count if h.poison_count is not None else "",
        large=large,
        workers=workers,
    )
    return layout(frame, f"Health of {h.hub}", body, refresh=5)


def _csrf(frame: Frame) -> Safe:
    return t('<input type="hidden" name="csrf" value="{c}">', c=frame.csrf)


def render_confirm(
    frame: Frame,
    instance_id: str,
    status: str,
    action: str,
    *,
    error: str = "",
    event_name: str = "",
    event_data: str = "",
    reason: str = "",
) -> str:
    extra = Safe("")
    if action == "raise":
        extra = t(
            '<label>Event name <input name="event" value="{n}" required></label>'
            '<label>Event data (JSON) <textarea name="data" rows="4">{d}</textarea></label>',
            n=event_name,
            d=event_data,
        )
    elif action == "restart":
        extra = Safe(
            '<label class="check"><input type="checkbox" name="new_id" value="true" checked> '
            "with a new instance id</label>"
        )
    base = f"{PREFIX}/instances/{path_segment(instance_id)}"
    body = t(
        '<h1>{label}?</h1><p>Instance <code class="iid">{id}</code> {status}</p><p>{explain}</p>{err}'
        '<form class="confirm" method="post" action="{action}">{csrf}{hidden}{extra}'
        '<label>Reason <input name="reason" value="{reason}" maxlength="1000"></label>'
        '<button class="danger" type="submit" name="confirm" value="yes">{label}</button> '
        '<a href="{back}">Cancel</a></form>',
        label=_LABEL[action],
        id=instance_id,
        status=status_badge(status),
        explain=_EXPLAIN[action],
        err=t('<p class="error" role="alert">{e}</p>', e=error) if error else "",
        action=frame.link(f"{base}/{action}"),
        csrf=_csrf(frame),
        hidden=Safe(""),
        extra=extra,
        reason=reason,
        back=frame.link(base),
    )
    return layout(frame, f"{_LABEL[action]} {instance_id}", body)


_LABEL = {
    "raise": "Raise event",
    "suspend": "Suspend",
    "resume": "Resume",
    "terminate": "Terminate",
    "restart": "Restart",
    "rewind": "Rewind",
    "purge": "Purge",
}


def render_bulk_confirm(
    frame: Frame,
    action: str,
    params: list[tuple[str, str]],
    matched: int,
    eligible: int,
    *,
    capped: bool,
    error: str = "",
) -> str:
    which = {"terminate": "running, pending or suspended", "purge": "finished", "restart": "all"}[action]
    body = t(
        '<h1>{label} all matching instances?</h1><p><b class="matched">{m}</b> instances match the filter; '
        '<b class="eligible">{e}</b> of them ({which}) will be {done}.{cap}</p><p>{explain}</p>{err}'
        '<form class="confirm" method="post" action="{action}">{csrf}{hidden}'
        '<label>Reason <input name="reason" maxlength="1000"></label>'
        '<button class="danger" type="submit" name="confirm" value="yes">{label} {e} instances</button> '
        '<a href="{back}">Cancel</a></form>',
        label=_LABEL[action],
        m=matched,
        e=eligible,
        which=which,
        done={"terminate": "terminated", "purge": "purged", "restart": "restarted with new ids"}[action],
        cap=" (The scan stopped at its limit: narrow the filter to reach the rest.)" if capped else "",
        explain=_EXPLAIN[action],
        err=t('<p class="error">{e}</p>', e=error) if error else "",
        action=f"{PREFIX}/bulk/{action}",
        csrf=_csrf(frame),
        hidden=hidden_inputs(params),
        back=frame.link(PREFIX + "/", params),
    )
    return layout(frame, f"{_LABEL[action]} matching instances", body)


def render_start(
    frame: Frame,
    *,
    error: str = "",
    name: str = "",
    instance_id: str = "",
    data: str = "",
    names: list[str] | None = None,
) -> str:
    choices = join(t('<option value="{n}">', n=n) for n in names or [])
    body = t(
        "<h1>Start a new instance</h1>{err}"
        '<form class="confirm" method="post" action="{action}">{csrf}'
        '<label>Orchestrator name <input name="name" value="{name}" list="orchestrators" required></label>'
        '<datalist id="orchestrators">{choices}</datalist>'
        '<label>Instance id (empty: a new one) <input name="instance_id" value="{iid}"></label>'
        '<label>Input (JSON) <textarea name="input" rows="6">{data}</textarea></label>'
        '<button type="submit" name="confirm" value="yes">Start</button> <a href="{back}">Cancel</a></form>',
        err=t('<p class="error" role="alert">{e}</p>', e=error) if error else "",
        action=frame.link(PREFIX + "/start"),
        csrf=_csrf(frame),
        name=name,
        choices=choices,
        iid=instance_id,
        data=data,
        back=frame.link(PREFIX + "/"),
    )
    return layout(frame, "Start a new instance", body)


@dataclass
class Job:
    """A bulk action running in the server: how far it got."""

    id: str
    action: str
    hub: str
    total: int
    started: datetime
    done: int = 0
    failed: int = 0
    finished: bool = False
    errors: list[str] = field(default_factory=list)
    back: str = PREFIX + "/"


def render_job(frame: Frame, job: Job) -> str:
    pct = 100 if job.total == 0 else int(100 * (job.done + job.failed) / job.total)
    errors = join(t("<li>{e}</li>", e=e) for e in job.errors[:20])
    body = t(
        '<h1>{label}: {state}</h1><p class="progress"><progress max="100" value="{pct}">{pct} %</progress> '
        '<span class="done">{done}</span> done, <span class="failed">{failed}</span> failed, of '
        '<span class="total">{total}</span></p>{errors}<p><a href="{back}">Back to the instances</a></p>',
        label=_LABEL[job.action],
        state="finished" if job.finished else "running",
        pct=pct,
        done=job.done,
        failed=job.failed,
        total=job.total,
        errors=t('<ul class="error">{e}</ul>', e=errors) if job.errors else "",
        back=job.back,
    )
    return layout(frame, f"{_LABEL[job.action]} job", body, refresh=0 if job.finished else 1)
