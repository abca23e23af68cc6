"""The instance list's state, all of it in the query string (so every view can be bookmarked), and the
pure steps of the list: filter, count, sort and cut a page with a continuation token.

Query parameters: ``taskHub``, ``status`` (repeatable runtime status names), ``preset`` (15m, 1h, 24h,
7d, 30d, all, custom), ``from``/``to`` (a range in the page's time zone, with ``preset=custom``),
``name`` (orchestrator name prefix, any case), ``prefix`` (instance id prefix), ``version`` (the
instance's version, exactly; ``-`` for instances without one), ``custom`` (custom status contains, any case), ``sort`` (created, updated), ``dir`` (desc, asc), ``top`` (page size), ``after``
(continuation token), ``refresh`` (0, 2, 5, 15 seconds), ``tz`` (UTC or an IANA zone).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from taskhub.client.status import OrchestrationState
from taskhub.format.history import OrchestrationStatus
from taskhub.http.dashboard.markup import TimeZone, parse_zone

__all__ = ["ListFilter", "PRESETS", "REFRESH_CHOICES", "PAGE_SIZES", "STATUS_NAMES", "select_page", "Listing"]

PRESETS: dict[str, timedelta | None] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
    "custom": None,
}
REFRESH_CHOICES = (0, 2, 5, 15)
PAGE_SIZES = (25, 50, 100, 200)
STATUS_NAMES = tuple(s.value for s in OrchestrationStatus)
SORTS = ("created", "updated")


def _one(q: Mapping[str, Any], name: str) -> str:
    value = q.get(name)
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True)
class ListFilter:
    hub: str = ""
    statuses: tuple[str, ...] = ()
    preset: str = "24h"
    start: datetime | None = None  # custom range, aware
    end: datetime | None = None
    name: str = ""
    prefix: str = ""
    version: str = ""
    custom: str = ""
    sort: str = "created"
    descending: bool = True
    top: int = 50
    after: str = ""
    refresh: int = 0
    tz: TimeZone = field(default_factory=TimeZone)

    @classmethod
    def parse(cls, q: Mapping[str, Any], statuses: list[str]) -> ListFilter:
        """From the query (``statuses``: every ``status`` value); ValueError names the bad parameter."""
        tz = parse_zone(_one(q, "tz"))
        bad = [s for s in statuses if s not in STATUS_NAMES]
        if bad:
            raise ValueError(f"status {bad[0]!r} is unknown; allowed: {', '.join(STATUS_NAMES)}")
        preset = _one(q, "preset") or "24h"
        if preset not in PRESETS:
            raise ValueError(f"preset {preset!r} is unknown; allowed: {', '.join(PRESETS)}")
        start, end = _local_time(q, "from", tz), _local_time(q, "to", tz)
        if (start or end) and preset != "custom":
            preset = "custom"
        sort = _one(q, "sort") or "created"
        if sort not in SORTS:
            raise ValueError(f"sort {sort!r} is unknown; allowed: created, updated")
        direction = _one(q, "dir") or "desc"
        if direction not in ("asc", "desc"):
            raise ValueError(f"dir {direction!r} is unknown; allowed: asc, desc")
        top = _int(q, "top", 50, PAGE_SIZES)
        refresh = _int(q, "refresh", 0, REFRESH_CHOICES)
        after = _one(q, "after")
        if after:
            _decode_token(after)
        return cls(
            hub=_one(q, "taskHub"),
            statuses=tuple(dict.fromkeys(statuses)),
            preset=preset,
            start=start,
            end=end,
            name=_one(q, "name"),
            prefix=_one(q, "prefix"),
            version=_one(q, "version"),
            custom=_one(q, "custom"),
            sort=sort,
            descending=direction == "desc",
            top=top,
            after=after,
            refresh=refresh,
            tz=tz,
        )

    def window(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """The created-time range to read."""
        if self.preset == "custom":
            return self.start, self.end
        span = PRESETS[self.preset]
        return (now - span if span else None), None

    def params(self, **changes: Any) -> list[tuple[str, Any]]:
        """The query pairs of this state (defaults left out), with ``changes`` applied; ``after`` is
        dropped unless given, since a changed filter starts at the first page."""
        f = replace(self, after=changes.pop("after", ""), **changes)
        pairs: list[tuple[str, Any]] = [("taskHub", f.hub)]
        pairs += [("status", s) for s in f.statuses]
        if f.preset != "24h":
            pairs.append(("preset", f.preset))
        if f.preset == "custom":
            pairs += [("from", _fmt_local(f.start, f.tz)), ("to", _fmt_local(f.end, f.tz))]
        pairs += [("name", f.name), ("prefix", f.prefix), ("version", f.version), ("custom", f.custom)]
        if f.sort != "created":
            pairs.append(("sort", f.sort))
        if not f.descending:
            pairs.append(("dir", "asc"))
        if f.top != 50:
            pairs.append(("top", f.top))
        pairs += [("after", f.after), ("refresh", f.refresh or ""), ("tz", "" if f.tz.is_utc else f.tz.name)]
        return pairs

    def matches(self, s: OrchestrationState, *, with_status: bool = True) -> bool:
        """The filters the table query cannot apply: name prefix, custom status text (and status).
        Entities (ids ``@name@key``, in the same table) are not orchestrations: never listed here."""
        if s.instance_id.startswith("@"):
            return False
        if with_status and self.statuses and s.runtime_status.value not in self.statuses:
            return False
        if self.name and not s.name.lower().startswith(self.name.lower()):
            return False
        if self.custom and self.custom.lower() not in (s.serialized_custom_status or "").lower():
            return False
        if self.version and s.version != ("" if self.version == "-" else self.version):
            return False
        return not (self.prefix and not s.instance_id.startswith(self.prefix))


def _int(q: Mapping[str, Any], name: str, default: int, allowed: tuple[int, ...]) -> int:
    raw = _one(q, name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) not in allowed:
        raise ValueError(f"{name} {raw!r} is not allowed; use one of {', '.join(map(str, allowed))}")
    return int(raw)


def _local_time(q: Mapping[str, Any], name: str, tz: TimeZone) -> datetime | None:
    raw = _one(q, name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name} {raw!r} is not a date and time such as 2026-11-30T08:00") from None
    return value.replace(tzinfo=tz.zone) if value.tzinfo is None else value


def _fmt_local(value: datetime | None, tz: TimeZone) -> str:
    return value.astimezone(tz.zone).strftime("%Y-%m-%dT%H:%M") if value else ""


# -- one page --------------------------------------------------------------------------------------


def _key(s: OrchestrationState, sort: str) -> tuple[str, str]:
    at = s.created_at if sort == "created" else s.last_updated_at
    return ((at or datetime.min.replace(tzinfo=UTC)).isoformat(), s.instance_id)


def _encode_token(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[str, str]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not (isinstance(raw, list) and len(raw) == 2 and all(isinstance(x, str) for x in raw)):
            raise ValueError
        return raw[0], raw[1]
    except (ValueError, binascii.Error):
        raise ValueError("after: this continuation token was not issued by this dashboard") from None


@dataclass
class Listing:
    items: list[OrchestrationState]
    next_token: str | None
    counts: Counter[str]
    matched: int
    scanned: int
    capped: bool


def select_page(states: list[OrchestrationState], f: ListFilter, *, capped: bool = False) -> Listing:
    """Count per status (every other filter applied), filter, sort, and cut the page after ``f.after``."""
    window = [s for s in states if f.matches(s, with_status=False)]
    counts = Counter(s.runtime_status.value for s in window)
    chosen = [s for s in window if not f.statuses or s.runtime_status.value in f.statuses]
    chosen.sort(key=lambda s: _key(s, f.sort), reverse=f.descending)
    if f.after:
        mark = _decode_token(f.after)
        chosen = [s for s in chosen if (_key(s, f.sort) < mark if f.descending else _key(s, f.sort) > mark)]
    page = chosen[: f.top]
    token = _encode_token(_key(page[-1], f.sort)) if len(chosen) > f.top else None
    matched = sum(counts[s] for s in f.statuses) if f.statuses else sum(counts.values())
    return Listing(page, token, counts, matched, len(states), capped)
