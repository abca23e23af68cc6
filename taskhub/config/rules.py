"""Parsing and checking one configuration value: TimeSpans, integers, booleans, ranges, hub names.

A settings field is declared with :func:`key` (its host.json key and aliases, default, rule and
converter); :func:`check_value` checks a value against it and raises a one-line ``ConfigurationError``
naming the key, the value and the rule. The key table itself is :mod:`taskhub.config.settings`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from dataclasses import field
from datetime import timedelta
from typing import Any

from taskhub.errors import ConfigurationError
from taskhub.model.versioning import VersionFailureStrategy, VersionMatchStrategy

__all__ = [
    "CONVERTERS",
    "HUB_NAME",
    "HUB_RULE",
    "INT",
    "POSITIVE",
    "Rule",
    "TIMESPAN",
    "TIMESPAN_FORM",
    "between",
    "check_all",
    "check_value",
    "cpus_x10",
    "format_timespan",
    "key",
    "parse_timespan",
    "sanitize_hub_name",
    "to_bool",
    "to_encoding",
    "to_failure",
    "to_int",
    "to_match",
    "to_seconds",
    "to_str",
    "to_timespan",
    "to_version",
]

HUB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,44}")
HUB_RULE = (
    "Task hub name '{}' should contain only alphanumeric characters, start with a letter, "
    "and have length between 3 and 45"
)
TIMESPAN = re.compile(r"\s*(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?\s*")
TIMESPAN_FORM = "must be a TimeSpan string 'hh:mm:ss' (also 'hh:mm', 'd.hh:mm:ss', 'hh:mm:ss.fffffff')"
INT = re.compile(r"\s*[+-]?\d+\s*")


def parse_timespan(text: str) -> timedelta:
    """A .NET ``TimeSpan.Parse`` string (``[-][d.]hh:mm[:ss[.fffffff]]``) -> timedelta; ValueError if not."""
    m = TIMESPAN.fullmatch(text)
    if not m or int(m[3]) > 23 or int(m[4]) > 59 or int(m[5] or 0) > 59:
        raise ValueError(f"not a TimeSpan: {text!r}")
    ticks = int((m[6] or "").ljust(7, "0"))  # 100 ns units
    span = timedelta(int(m[2] or 0), 3600 * int(m[3]) + 60 * int(m[4]) + int(m[5] or 0), round(ticks / 10))
    return -span if m[1] else span


def format_timespan(span: timedelta) -> str:
    """timedelta -> ``[-][d.]hh:mm:ss[.ffffff]``, the form host.json uses."""
    sign, span = ("-", -span) if span < timedelta(0) else ("", span)
    minutes, seconds = divmod(span.seconds, 60)
    text = f"{sign}{f'{span.days}.' if span.days else ''}{minutes // 60:02}:{minutes % 60:02}:{seconds:02}"
    return text + (f".{span.microseconds:06}" if span.microseconds else "")


def sanitize_hub_name(name: str) -> str:
    """A *default* hub name made valid (config.md 1.4): keep ASCII letters/digits, prefix ``t`` before a
    leading digit, cut to 45, append ``Hub`` below 3, ``DefaultTaskHub`` when nothing is left."""
    kept = "".join(c for c in name if c.isascii() and c.isalnum())
    if not kept:
        return "DefaultTaskHub"
    kept = ("t" + kept if kept[0].isdigit() else kept)[:45]
    return kept + "Hub" if len(kept) < 3 else kept


# --- conversion of raw values (JSON values or environment strings) -----------------------------------


def to_int(key: str, raw: Any) -> int:
    if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and INT.fullmatch(raw))):
        raise ConfigurationError(key, raw, "must be an integer")
    return int(raw)


def to_bool(key: str, raw: Any) -> bool:
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    if not isinstance(raw, bool):
        raise ConfigurationError(key, raw, "must be true or false")
    return raw


def to_str(key: str, raw: Any) -> str:
    if not isinstance(raw, str):
        raise ConfigurationError(key, raw, "must be a string")
    return raw


def to_timespan(key: str, raw: Any) -> timedelta:
    try:
        return parse_timespan(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(key, raw, TIMESPAN_FORM) from None


def to_seconds(key: str, raw: Any) -> timedelta:
    return timedelta(seconds=to_int(key, raw))


def to_encoding(key: str, raw: Any) -> str:
    text = to_str(key, raw)
    return {"utf8": "UTF8", "base64": "Base64"}.get(text.strip().lower(), text)


def to_version(key: str, raw: Any) -> str | None:
    """A version string; empty counts as unset (Durable Functions reads ``null`` the same way)."""
    if not isinstance(raw, str):
        raise ConfigurationError(key, raw, 'must be a string, for example "2.0"')
    return raw.strip() or None


def to_match(key: str, raw: Any) -> VersionMatchStrategy:
    return to_choice(key, raw, VersionMatchStrategy)


def to_failure(key: str, raw: Any) -> VersionFailureStrategy:
    return to_choice(key, raw, VersionFailureStrategy)


def to_choice(key: str, raw: Any, enum: type[Any]) -> Any:
    names = {m.value.lower(): m for m in enum}
    choice = names.get(raw.strip().lower()) if isinstance(raw, str) else None
    if choice is None:
        raise ConfigurationError(
            key, raw, "must be one of " + ", ".join(m.value for m in enum) + " (any case)"
        )
    return choice


CONVERTERS: dict[Callable[[str, Any], Any], tuple[type, str]] = {
    to_int: (int, "an integer"),
    to_bool: (bool, "true or false"),
    to_str: (str, "a string"),
    to_timespan: (timedelta, "a timedelta"),
    to_seconds: (timedelta, "a timedelta"),
    to_encoding: (str, "a string"),
    to_version: (str, "a string"),
    to_match: (VersionMatchStrategy, "None, Strict or CurrentOrOlder"),
    to_failure: (VersionFailureStrategy, "Reject or Fail"),
}
Rule = tuple[Callable[[Any], Any], str]
POSITIVE: Rule = (lambda v: v > type(v)(), "must be > 0")


def between(low: Any, high: Any, why: str = "") -> Rule:
    shown = [format_timespan(x) if isinstance(x, timedelta) else x for x in (low, high)]
    return (lambda v: low <= v <= high), f"must be between {shown[0]} and {shown[1]}{why}"


def key(names: str | tuple[str, ...], default: Any, rule: Rule | None = None, convert: Any = None) -> Any:
    """A settings field: its host.json key (then aliases), default, rule and converter (by default
    chosen from the default's type)."""
    if convert is None:
        convert = {int: to_int, bool: to_bool, timedelta: to_timespan}.get(type(default), to_str)
    names = (names,) if isinstance(names, str) else names
    meta = {"names": names, "convert": convert, "rule": rule}
    if callable(default):
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


def check_value(f: dataclasses.Field[Any], value: Any, key: str, raw: Any = None) -> None:
    """Type and range of one field; the error shows ``raw`` (what the user wrote) when given."""
    shown = raw if raw is not None else format_timespan(value) if isinstance(value, timedelta) else value
    if value is None and f.default is None:
        return
    expected, words = CONVERTERS[f.metadata["convert"]]
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigurationError(key, shown, f"must be {words}")
    rule = f.metadata["rule"]
    if rule is not None and not rule[0](value):
        raise ConfigurationError(key, shown, rule[1].format(value))


def check_all(obj: Any, prefix: str) -> None:
    for f in dataclasses.fields(obj):
        if "names" in f.metadata:
            check_value(f, getattr(obj, f.name), prefix + f.metadata["names"][0])


def cpus_x10() -> int:
    return 10 * (os.cpu_count() or 1)
