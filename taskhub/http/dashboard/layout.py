"""The frame every dashboard page shares (head, navigation, hub picker, time zone switch) and the small
pages: errors, login, read-only refusal. Pure: strings in, escaped markup out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from taskhub.http.dashboard.markup import Safe, TimeZone, href, join, t

__all__ = ["PREFIX", "Frame", "layout", "error_page", "login_page", "status_badge", "hidden_inputs"]

PREFIX = "/dashboard"
STATIC = PREFIX + "/static"


@dataclass
class Frame:
    """What the frame needs to know about the request."""

    hub: str
    hubs: list[str] = field(default_factory=list)
    tz: TimeZone = field(default_factory=TimeZone)
    csrf: str = ""
    read_only: bool = False
    path: str = PREFIX + "/"
    query: list[tuple[str, str]] = field(default_factory=list)  # the current query (for the switches)

    def link(self, path: str, params: Iterable[tuple[str, Any]] = ()) -> str:
        """``path`` with this request's hub and zone, plus ``params``."""
        base: list[tuple[str, Any]] = [("taskHub", self.hub), ("tz", "" if self.tz.is_utc else self.tz.name)]
        return href(path, base + list(params))


def hidden_inputs(pairs: Iterable[tuple[str, Any]], skip: Iterable[str] = ()) -> Safe:
    skipped = set(skip)
    return join(
        t('<input type="hidden" name="{k}" value="{v}">', k=k, v=v)
        for k, v in pairs
        if k not in skipped and v not in (None, "")
    )


def status_badge(status: str) -> Safe:
    return t('<span class="badge s-{c}">{s}</span>', c=status.lower(), s=status)


def _hub_picker(frame: Frame) -> Safe:
    hubs = list(dict.fromkeys([*frame.hubs, frame.hub]))
    options = join(
        t('<option value="{h}"{sel}>{h}</option>', h=h, sel=Safe(" selected") if h == frame.hub else Safe(""))
        for h in sorted(hubs, key=str.lower)
    )
    return t(
        '<form class="picker" method="get" action="{action}"><label>Task hub '
        '<select name="taskHub" data-autosubmit>{options}</select></label>{hidden}'
        '<button type="submit">Open</button></form>',
        action=frame.path if frame.path != PREFIX + "/instances" else PREFIX + "/",
        options=options,
        hidden=hidden_inputs([("tz", "" if frame.tz.is_utc else frame.tz.name)]),
    )


def _zone_switch(frame: Frame) -> Safe:
    others = [(k, v) for k, v in frame.query if k != "tz"]
    return t(
        '<form class="zone" method="get" action="{action}">{hidden}<label>Time zone '
        '<input name="tz" value="{tz}" size="14" placeholder="UTC or Europe/Paris"></label>'
        '<button type="submit">Set</button> <a href="{utc}">UTC</a> '
        '<a class="js-only" hidden data-local-tz href="{utc}">Local</a></form>',
        action=frame.path,
        hidden=hidden_inputs(others),
        tz=frame.tz.name,
        utc=href(frame.path, others),
    )


def layout(frame: Frame, title: str, body: Safe, *, refresh: int = 0) -> str:
    """A whole page. ``refresh`` > 0 reloads it every so many seconds (a meta refresh without
    JavaScript; with JavaScript the script reloads it, except while a form field has focus)."""
    meta = (
        t('<noscript><meta http-equiv="refresh" content="{n}"></noscript>', n=refresh)
        if refresh
        else Safe("")
    )
    nav = join(
        t('<a href="{u}">{label}</a>', u=frame.link(path), label=label)
        for path, label in (
            (PREFIX + "/", "Instances"),
            (PREFIX + "/entities", "Entities"),
            (PREFIX + "/health", "Health"),
            *([] if frame.read_only else [(PREFIX + "/start", "Start new")]),
        )
    )
    ro = Safe('<span class="badge ro">read-only</span>') if frame.read_only else Safe("")
    return t(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">{meta}'
        "<title>{title} · taskhub</title>"
        '<link rel="stylesheet" href="{static}/dashboard.css">'
        '<link rel="icon" href="{static}/favicon.svg" type="image/svg+xml">'
        '<script src="{static}/dashboard.js" defer></script></head>'
        '<body data-refresh="{refresh}"><header><a class="brand" href="{home}">taskhub</a> {ro}'
        "<nav>{nav}</nav>{picker}{zone}</header><main>{body}</main></body></html>",
        meta=meta,
        title=title,
        static=STATIC,
        refresh=refresh,
        home=frame.link(PREFIX + "/"),
        ro=ro,
        nav=nav,
        picker=_hub_picker(frame),
        zone=_zone_switch(frame),
        body=body,
    )


def error_page(frame: Frame | None, status: int, message: str) -> str:
    body = t(
        '<h1>{title}</h1><p class="error" role="alert">{message}</p><p><a href="{home}">Back to the instances</a></p>',
        title={400: "Bad request", 401: "Key required", 403: "Not allowed", 404: "Not found"}.get(
            status, "Error"
        ),
        message=message,
        home=frame.link(PREFIX + "/") if frame else PREFIX + "/",
    )
    return layout(frame or Frame(hub=""), f"Error {status}", body)


def login_page(csrf: str, next_url: str, message: str = "") -> str:
    """The key form shown off loopback: the key is posted once and kept in an HttpOnly cookie."""
    return t(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in · taskhub</title>'
        '<link rel="stylesheet" href="{static}/dashboard.css">'
        '<link rel="icon" href="{static}/favicon.svg" type="image/svg+xml"></head>'
        "<body><main><h1>taskhub dashboard</h1>{msg}"
        '<form method="post" action="{prefix}/login"><input type="hidden" name="csrf" value="{csrf}">'
        '<input type="hidden" name="next" value="{next}"><label>Access key (the server\'s key setting) '
        '<input type="password" name="key" autocomplete="current-password" required></label> '
        '<button type="submit">Sign in</button></form></main></body></html>',
        static=STATIC,
        prefix=PREFIX,
        csrf=csrf,
        next=next_url,
        msg=t('<p class="error" role="alert">{m}</p>', m=message) if message else Safe(""),
    )
