"""The instance list page: filter form, counts per status, the table, paging and bulk actions. Pure."""

from __future__ import annotations

from datetime import datetime

from taskhub.client.status import OrchestrationState
from taskhub.http.dashboard.filters import (
    PAGE_SIZES,
    PRESETS,
    REFRESH_CHOICES,
    STATUS_NAMES,
    ListFilter,
    Listing,
)
from taskhub.http.dashboard.layout import PREFIX, Frame, hidden_inputs, layout, status_badge
from taskhub.http.dashboard.markup import Safe, fmt_duration, href, join, path_segment, t

__all__ = ["render_list", "duration_of", "instance_link"]

_PRESET_LABELS = {
    "15m": "last 15 minutes",
    "1h": "last hour",
    "24h": "last 24 hours",
    "7d": "last 7 days",
    "30d": "last 30 days",
    "all": "all time",
    "custom": "custom range",
}


def duration_of(s: OrchestrationState, now: datetime) -> str:
    if s.created_at is None:
        return ""
    if s.runtime_status.value in ("Running", "Pending", "Suspended"):
        return fmt_duration(now - s.created_at)
    end = s.completed_at or s.last_updated_at
    return fmt_duration(end - s.created_at) if end else ""


def instance_link(frame: Frame, instance_id: str) -> str:
    return frame.link(f"{PREFIX}/instances/{path_segment(instance_id)}")


def _selected(flag: bool) -> Safe:
    return Safe(" selected") if flag else Safe("")


def _options(values: list[tuple[str, str]], current: str) -> Safe:
    return join(
        t('<option value="{v}"{s}>{label}</option>', v=v, s=_selected(v == current), label=label)
        for v, label in values
    )


def _filter_form(f: ListFilter) -> Safe:
    boxes = join(
        t(
            '<label class="check"><input type="checkbox" name="status" value="{s}"{c}> {s}</label>',
            s=s,
            c=Safe(" checked") if s in f.statuses else Safe(""),
        )
        for s in STATUS_NAMES
    )
    local = f.params()
    start = next((v for k, v in local if k == "from"), "")
    end = next((v for k, v in local if k == "to"), "")
    return t(
        '<form class="filters" method="get" action="{action}">{hidden}'
        "<fieldset><legend>Status</legend>{boxes}</fieldset>"
        '<div class="row"><label>Created <select name="preset">{presets}</select></label>'
        '<label>From ({tz}) <input type="datetime-local" name="from" value="{start}"></label>'
        '<label>To ({tz}) <input type="datetime-local" name="to" value="{end}"></label></div>'
        '<div class="row"><label>Name starts with <input name="name" value="{name}"></label>'
        '<label>Id prefix <input name="prefix" value="{prefix}"></label>'
        '<label>Version <input name="version" value="{version}" size="8"></label>'
        '<label>Custom status contains <input name="custom" value="{custom}"></label></div>'
        '<div class="row"><label>Sort <select name="sort">{sorts}</select></label>'
        '<label>Order <select name="dir">{dirs}</select></label>'
        '<label>Page size <select name="top">{tops}</select></label>'
        '<label>Auto-refresh <select name="refresh">{refreshes}</select></label>'
        '<button type="submit">Apply</button> <a href="{reset}">Reset</a></div></form>',
        action=PREFIX + "/",
        hidden=hidden_inputs([("taskHub", f.hub), ("tz", "" if f.tz.is_utc else f.tz.name)]),
        boxes=boxes,
        presets=_options([(k, _PRESET_LABELS[k]) for k in PRESETS], f.preset),
        tz=f.tz.name,
        start=start,
        end=end,
        name=f.name,
        prefix=f.prefix,
        version=f.version,
        custom=f.custom,
        sorts=_options([("created", "created"), ("updated", "last updated")], f.sort),
        dirs=_options([("desc", "newest first"), ("asc", "oldest first")], "desc" if f.descending else "asc"),
        tops=_options([(str(n), str(n)) for n in PAGE_SIZES], str(f.top)),
        refreshes=_options(
            [(str(n), f"every {n} s" if n else "off") for n in REFRESH_CHOICES], str(f.refresh)
        ),
        reset=href(PREFIX + "/", [("taskHub", f.hub), ("tz", "" if f.tz.is_utc else f.tz.name)]),
    )


def _counts(f: ListFilter, listing: Listing) -> Safe:
    cells = join(
        t(
            '<a class="count s-{c}{on}" href="{u}" data-status="{s}">{s} <b>{n}</b></a>',
            c=s.lower(),
            on=" on" if s in f.statuses else "",
            u=href(PREFIX + "/", f.params(statuses=(s,))),
            s=s,
            n=listing.counts.get(s, 0),
        )
        for s in STATUS_NAMES
        if listing.counts.get(s, 0) or s in f.statuses
    )
    note = (
        t(
            ' <span class="muted">(counted over the first {n} instances of the window; narrow it to see all)</span>',
            n=listing.scanned,
        )
        if listing.capped
        else Safe("")
    )
    return t(
        '<p class="counts" aria-label="counts per status">{cells}{note}</p>',
        cells=cells or "no instances",
        note=note,
    )


def _table(frame: Frame, f: ListFilter, listing: Listing, now: datetime) -> Safe:
    if not listing.items:
        hint = ""
        if f.preset not in ("all", "custom"):
            hint = t(' <a href="{u}">Show all time</a>', u=href(PREFIX + "/", f.params(preset="all")))
        return t('<p class="empty">No instances match these filters.{hint}</p>', hint=Safe(hint))
    rows = join(
        t(
            '<tr data-id="{id}"><td class="id"><a href="{u}">{id}</a></td><td>{name}</td>'
            '<td class="version">{version}</td><td>{status}</td>'
            '<td class="time">{created}</td><td class="time">{updated}</td><td class="num">{dur}</td>'
            '<td class="custom">{custom}</td></tr>',
            id=s.instance_id,
            u=instance_link(frame, s.instance_id),
            name=s.name,
            version=s.version,
            status=status_badge(s.runtime_status.value),
            created=f.tz.format(s.created_at, seconds_only=True),
            updated=f.tz.format(s.last_updated_at, seconds_only=True),
            dur=duration_of(s, now),
            custom=_cut(s.serialized_custom_status or "", 80),
        )
        for s in listing.items
    )
    return t(
        '<div class="scroll"><table class="instances"><thead><tr><th>Instance id</th><th>Name</th><th>Version</th>'
        "<th>Status</th>"
        "<th>{created}</th><th>{updated}</th><th>Duration</th><th>Custom status</th></tr></thead>"
        "<tbody>{rows}</tbody></table></div>",
        created=f.tz.header("Created"),
        updated=f.tz.header("Last updated"),
        rows=rows,
    )


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _pager(f: ListFilter, listing: Listing) -> Safe:
    links = []
    if f.after:
        links.append(t('<a href="{u}">First page</a>', u=href(PREFIX + "/", f.params())))
    if listing.next_token:
        links.append(
            t(
                '<a rel="next" href="{u}">Next page</a>',
                u=href(PREFIX + "/", f.params(after=listing.next_token)),
            )
        )
    return t(
        '<nav class="pager">{shown} of {matched} shown {links}</nav>',
        shown=len(listing.items),
        matched=listing.matched,
        links=join(links, " "),
    )


def _bulk(f: ListFilter, read_only: bool) -> Safe:
    if read_only:
        return Safe("")
    links = join(
        t(
            '<a class="button danger" href="{u}">{label}</a> ',
            u=href(f"{PREFIX}/bulk/{op}", f.params()),
            label=label,
        )
        for op, label in (
            ("terminate", "Terminate all matching…"),
            ("purge", "Purge all matching…"),
            ("restart", "Restart all matching…"),
        )
    )
    return t(
        '<section class="bulk"><h2>Bulk actions over this filter</h2><p>{links}</p></section>', links=links
    )


def render_list(frame: Frame, f: ListFilter, listing: Listing, now: datetime) -> str:
    body = t(
        "<h1>Instances <small>{hub}</small></h1>{form}{counts}{table}{pager}{bulk}",
        hub=frame.hub,
        form=_filter_form(f),
        counts=_counts(f, listing),
        table=_table(frame, f, listing, now),
        pager=_pager(f, listing),
        bulk=_bulk(f, frame.read_only),
    )
    return layout(frame, f"Instances of {frame.hub}", body, refresh=f.refresh)
