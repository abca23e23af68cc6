"""HTML building blocks of the dashboard: escaping by default, times in a named zone, durations and
pretty JSON. Pure: no storage, no asyncio, no aiohttp.

Every value goes through :func:`t` (or :func:`esc`): a template's fields are HTML-escaped unless they are
:class:`Safe` (markup this module or another template produced), so a value can only reach the page as
text, whatever it holds (``<script>``, quotes, emoji).
"""

from __future__ import annotations

import html
import json
import string
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "Safe",
    "esc",
    "t",
    "join",
    "href",
    "TimeZone",
    "parse_zone",
    "fmt_duration",
    "pretty_json",
    "PAYLOAD_LIMIT",
]

PAYLOAD_LIMIT = 200_000
"""Characters of one payload shown on a page; the rest is cut (the JSON download has everything)."""


class Safe(str):
    """Markup that is already escaped (or built only from escaped parts)."""

    __slots__ = ()


def esc(value: Any) -> Safe:
    """``value`` as HTML text: ``& < > " '`` escaped; None is empty; Safe passes through."""
    if isinstance(value, Safe):
        return value
    return Safe(html.escape("" if value is None else str(value), quote=True))


class _Escaping(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Safe):
            return str(value)
        return esc(format(value, format_spec) if format_spec else ("" if value is None else str(value)))


_FORMATTER = _Escaping()


def t(template: str, /, **values: Any) -> Safe:
    """``template`` with ``{name}`` fields filled by ``values``, each escaped unless it is Safe."""
    return Safe(_FORMATTER.vformat(template, (), values))


def join(parts: Iterable[Any], sep: str = "") -> Safe:
    return Safe(sep.join(esc(p) for p in parts))


def href(path: str, params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> str:
    """``path`` plus a query string of the non-empty ``params`` (lists repeat the key); not yet
    HTML-escaped (``t`` does that)."""
    items = params.items() if isinstance(params, Mapping) else (params or [])
    pairs: list[tuple[str, str]] = []
    for k, v in items:
        if v is None or v == "" or v is False:
            continue
        for one in v if isinstance(v, list | tuple) else [v]:
            pairs.append((k, str(one)))
    if not pairs:
        return path
    return path + ("&" if "?" in path else "?") + urlencode(pairs)


def path_segment(value: str) -> str:
    """An instance id (or any text) as one URL path segment."""
    return quote(value, safe="")


class TimeZone:
    """The zone the pages show times in; its name goes into column headers."""

    def __init__(self, name: str = "UTC", zone: tzinfo = UTC) -> None:
        self.name = name
        self.zone = zone

    @property
    def is_utc(self) -> bool:
        return self.name == "UTC"

    def format(self, value: datetime | None, *, seconds_only: bool = False) -> str:
        if value is None:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        local = value.astimezone(self.zone)
        return local.strftime("%Y-%m-%d %H:%M:%S" if seconds_only else "%Y-%m-%d %H:%M:%S.%f")[
            : 19 if seconds_only else 23
        ]

    def header(self, label: str) -> str:
        return f"{label} ({self.name})"


def parse_zone(name: str | None) -> TimeZone:
    """``?tz=``: empty or ``UTC`` is UTC; otherwise an IANA name (``Europe/Paris``). ValueError otherwise."""
    if not name or name.upper() in ("UTC", "Z"):
        return TimeZone()
    try:
        return TimeZone(name, ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"time zone {name!r} is unknown: use UTC or an IANA name such as Europe/Paris"
        ) from None


def fmt_duration(delta: timedelta | float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``, ``3 h 02 min``, ``2 d 05 h``; empty for None."""
    if delta is None:
        return ""
    s = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 10:
        return f"{sign}{s:.2f} s"
    if s < 60:
        return f"{sign}{s:.1f} s"
    m, sec = divmod(int(s), 60)
    if m < 60:
        return f"{sign}{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{sign}{h} h {m:02d} min"
    d, h = divmod(h, 24)
    return f"{sign}{d} d {h:02d} h"


def pretty_json(value: Any, *, limit: int = PAYLOAD_LIMIT) -> tuple[str, bool]:
    """``value`` indented (text that is not JSON stays as it is); cut at ``limit`` characters.
    Returns (text, was_cut)."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
        except (TypeError, ValueError):
            text = repr(value)
    if len(text) > limit:
        return text[:limit], True
    return text, False
