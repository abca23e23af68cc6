""".NET ``DateTime`` / ``DateTimeOffset`` text, as Newtonsoft.Json writes it (storage-format.md 3.4).

* DateTime (UTC): ``yyyy-MM-ddTHH:mm:ss[.fffffff]Z``, trailing fractional zeros trimmed, no dot when the
  fraction is zero: ``2024-05-01T12:00:01.5Z``, ``2024-05-02T00:00:00Z``.
* DateTimeOffset: the same, then ``+hh:mm`` (``+00:00`` for UTC).

.NET ticks are 100 ns, one digit finer than ``datetime``. :func:`parse_datetime` returns a
:class:`NetDateTime`, which keeps that 7th digit in ``hundred_ns`` so that
``format_datetime(parse_datetime(s)) == s`` for every value .NET writes. Arithmetic on a
``NetDateTime`` works at microsecond resolution (the result's ``hundred_ns`` is 0).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, SupportsIndex

from taskhub.errors import FormatError

__all__ = [
    "NetDateTime",
    "format_datetime",
    "format_datetimeoffset",
    "parse_datetime",
    "to_utc",
    "hundred_ns_of",
]

_TEXT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?([Zz]|[+-]\d{2}:\d{2})?",
    re.ASCII,
)


class NetDateTime(datetime):
    """A ``datetime`` with .NET's 100 ns resolution: ``hundred_ns`` (0-9) is the 7th fractional digit."""

    __slots__ = ("_hundred_ns",)
    _hundred_ns: int

    def __new__(cls, *args: Any, hundred_ns: int = 0, **kwargs: Any) -> NetDateTime:
        if not 0 <= hundred_ns <= 9:
            raise ValueError(f"hundred_ns must be 0..9, got {hundred_ns!r}")
        self = super().__new__(cls, *args, **kwargs)
        self._hundred_ns = hundred_ns
        return self

    @classmethod
    def of(cls, dt: datetime, hundred_ns: int = 0) -> NetDateTime:
        """``dt`` (same fields and tzinfo) with the given 7th fractional digit."""
        return cls(
            dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond,
            tzinfo=dt.tzinfo, fold=dt.fold, hundred_ns=hundred_ns,
        )  # fmt: skip

    @property
    def hundred_ns(self) -> int:
        return self._hundred_ns

    def _order(self, other: datetime) -> int:
        if datetime.__eq__(self, other) is True:
            return (self._hundred_ns > hundred_ns_of(other)) - (self._hundred_ns < hundred_ns_of(other))
        return 1 if datetime.__gt__(self, other) else -1

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, datetime):
            return NotImplemented
        return datetime.__eq__(self, other) is True and self._hundred_ns == hundred_ns_of(other)

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __lt__(self, other: date) -> bool:
        return self._order(other) < 0 if isinstance(other, datetime) else NotImplemented

    def __le__(self, other: date) -> bool:
        return self._order(other) <= 0 if isinstance(other, datetime) else NotImplemented

    def __gt__(self, other: date) -> bool:
        return self._order(other) > 0 if isinstance(other, datetime) else NotImplemented

    def __ge__(self, other: date) -> bool:
        return self._order(other) >= 0 if isinstance(other, datetime) else NotImplemented

    __hash__ = datetime.__hash__

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        base = datetime.__reduce_ex__(self, protocol)
        assert isinstance(base, tuple)
        return (_rebuild, (base[1], self._hundred_ns))

    def __repr__(self) -> str:
        text = super().__repr__()
        return f"{text[:-1]}, hundred_ns={self._hundred_ns})" if self._hundred_ns else text


def _rebuild(args: tuple[Any, ...], hundred_ns: int) -> NetDateTime:
    return NetDateTime(*args, hundred_ns=hundred_ns)


def hundred_ns_of(dt: datetime) -> int:
    """The 7th fractional digit of ``dt`` (0 for a plain ``datetime``)."""
    return dt._hundred_ns if isinstance(dt, NetDateTime) else 0


def to_utc(dt: datetime) -> datetime:
    """``dt`` in UTC, keeping a :class:`NetDateTime`'s 7th digit. Naive datetimes raise ValueError."""
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, got {type(dt).__name__}")
    offset = dt.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime {dt!r}: give a timezone (e.g. datetime.UTC)")
    if dt.tzinfo is UTC:
        return dt
    extra = hundred_ns_of(dt)
    utc = datetime.astimezone(dt, UTC)
    return NetDateTime.of(utc, extra) if extra else utc


def _fraction(dt: datetime) -> str:
    ticks = dt.microsecond * 10 + hundred_ns_of(dt)
    return "." + f"{ticks:07d}".rstrip("0") if ticks else ""


def _clock(dt: datetime) -> str:
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
        + _fraction(dt)
    )


def format_datetime(dt: datetime) -> str:
    """.NET UTC DateTime text: ``2024-05-01T12:00:01.5Z``. Aware values are converted to UTC first."""
    return _clock(to_utc(dt)) + "Z"


def format_datetimeoffset(dt: datetime) -> str:
    """.NET DateTimeOffset text in ``dt``'s own offset: ``2024-05-01T12:00:01.5+00:00``."""
    offset = dt.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime {dt!r}: a DateTimeOffset needs a timezone")
    if offset % timedelta(minutes=1):
        raise ValueError(f"offset {offset} of {dt!r} is not a whole number of minutes")
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{_clock(dt)}{sign}{hours:02d}:{mins:02d}"


def parse_datetime(text: str) -> NetDateTime:
    """Parse .NET DateTime/DateTimeOffset text (0-7 fractional digits; ``Z``, an offset, or no zone =
    UTC) into an aware UTC :class:`NetDateTime`. Bad text raises :class:`FormatError`."""
    match = _TEXT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise FormatError(f"not a .NET DateTime text: {text!r:.80}")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    digits = (match.group(7) or "").ljust(7, "0")
    zone = match.group(8)
    try:
        if zone is None or zone in "Zz":
            tz = UTC
        else:
            sign = -1 if zone[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        local = datetime(year, month, day, hour, minute, second, int(digits[:6]), tzinfo=tz)
        return NetDateTime.of(to_utc(local), int(digits[6]))
    except (ValueError, OverflowError) as err:
        raise FormatError(f"not a valid .NET DateTime: {text!r} ({err})") from None
