"""The entities view: a page of entities (name, key, last operation, backlog, lock) and one entity
(its state pretty-printed, and a form to signal an operation). Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskhub.http.dashboard.layout import PREFIX, Frame, hidden_inputs, layout
from taskhub.http.dashboard.markup import Safe, join, path_segment, pretty_json, t

if TYPE_CHECKING:
    from taskhub.client.entities import EntityMetadata

__all__ = ["render_entities", "render_entity", "entity_link"]


def entity_link(frame: Frame, entity_id: str) -> str:
    return frame.link(f"{PREFIX}/entities/{path_segment(entity_id)}")


def render_entities(
    frame: Frame, items: list[EntityMetadata], *, name: str, token: str | None, after: str
) -> str:
    z = frame.tz
    rows = join(
        t(
            '<tr data-id="{id}"><td class="id"><a href="{u}">{n}</a></td><td class="id">{k}</td>'
            '<td class="time">{at}</td><td class="num">{q}</td><td>{lock}</td><td class="custom">{state}</td></tr>',
            id=str(m.entity_id),
            u=entity_link(frame, str(m.entity_id)),
            n=m.entity_id.name,
            k=m.entity_id.key,
            at=z.format(m.last_modified_at, seconds_only=True),
            q=m.backlog_queue_size,
            lock=m.locked_by or "",
            state=_cut(m.serialized_state or "", 80),
        )
        for m in items
    )
    table = (
        t(
            '<div class="scroll"><table class="entities"><thead><tr><th>Name</th><th>Key</th><th>{c}</th>'
            "<th>Backlog</th><th>Locked by</th><th>State</th></tr></thead><tbody>{rows}</tbody></table></div>",
            c=z.header("Last operation"),
            rows=rows,
        )
        if items
        else Safe('<p class="empty">No entities match.</p>')
    )
    links = []
    if after:
        links.append(t('<a href="{u}">First page</a>', u=frame.link(PREFIX + "/entities", [("name", name)])))
    if token:
        links.append(
            t(
                '<a rel="next" href="{u}">Next page</a>',
                u=frame.link(PREFIX + "/entities", [("name", name), ("after", token)]),
            )
        )
    body = t(
        "<h1>Entities <small>{hub}</small></h1>"
        '<form class="filters" method="get" action="{action}">{hidden}<div class="row">'
        '<label>Entity name <input name="name" value="{name}"></label>'
        '<button type="submit">Apply</button></div></form>{table}<nav class="pager">{links}</nav>',
        hub=frame.hub,
        action=PREFIX + "/entities",
        hidden=hidden_inputs([("taskHub", frame.hub), ("tz", "" if frame.tz.is_utc else frame.tz.name)]),
        name=name,
        table=table,
        links=join(links, " "),
    )
    return layout(frame, f"Entities of {frame.hub}", body)


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def render_entity(
    frame: Frame,
    m: EntityMetadata,
    *,
    error: str = "",
    operation: str = "",
    data: str = "",
    done: bool = False,
) -> str:
    text, cut = pretty_json(m.state)
    form = Safe("")
    if not frame.read_only:
        form = t(
            '<form class="confirm" method="post" action="{a}"><input type="hidden" name="csrf" value="{c}">'
            "<h2>Signal an operation</h2>{err}"
            '<label>Operation <input name="operation" value="{op}" required></label>'
            '<label>Input (JSON, empty for none) <textarea name="input" rows="3">{d}</textarea></label>'
            '<button type="submit" name="confirm" value="yes">Signal</button></form>',
            a=frame.link(f"{PREFIX}/entities/{path_segment(str(m.entity_id))}"),
            c=frame.csrf,
            err=t('<p class="error" role="alert">{e}</p>', e=error) if error else "",
            op=operation,
            d=data,
        )
    body = t(
        '<h1 class="iid">{id}</h1>{notice}<dl class="summary"><dt>Name</dt><dd>{n}</dd><dt>Key</dt><dd>{k}</dd>'
        "<dt>{c}</dt><dd>{at}</dd><dt>Backlog</dt><dd>{q}</dd><dt>Locked by</dt><dd>{lock}</dd></dl>"
        '<details class="payload" open><summary>State</summary><pre>{state}</pre>{cut}</details>{form}'
        '<p><a href="{back}">All entities</a></p>',
        id=str(m.entity_id),
        notice=Safe(
            '<p class="notice" role="status">Signal sent: the entity runs it with its next batch.</p>'
        )
        if done
        else "",
        n=m.entity_id.name,
        k=m.entity_id.key,
        c=frame.tz.header("Last operation"),
        at=frame.tz.format(m.last_modified_at),
        q=m.backlog_queue_size,
        lock=m.locked_by or "none",
        state=text,
        cut=Safe('<p class="muted">Cut; too long to show whole.</p>') if cut else "",
        form=form,
        back=frame.link(PREFIX + "/entities"),
    )
    return layout(frame, str(m.entity_id), body)
