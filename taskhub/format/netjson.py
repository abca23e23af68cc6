"""The Newtonsoft-style JSON object codec under the queue messages and table columns (storage-format.md 3.3).

Generic parts only: JSON text as Newtonsoft writes it (:func:`dumps`, :func:`loads`), dictionaries that
remember their ``$type`` (:class:`NetDict`), the schema of one class (:class:`Shape`: its ``$type`` and
``(attribute, wire name, kind)`` members in wire order) and the decoders that check one JSON value.
The message shapes and the per-kind encoder/decoder tables are in :mod:`taskhub.format.messages`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, fields
from typing import Any

from taskhub.errors import FormatError
from taskhub.format.timefmt import parse_datetime

__all__ = [
    "Decoder",
    "Encoder",
    "Member",
    "NetDict",
    "Shape",
    "checked",
    "dec_datetime",
    "dec_dict",
    "dumps",
    "enc_dict",
    "expect_object",
    "loads",
    "show",
    "strip_types",
    "wrong",
]

Member = tuple[str, str, str]
Encoder = Callable[[Any, bool], Any]
Decoder = Callable[[Any, str], Any]


class NetDict(dict[str, Any]):
    """A dictionary read from .NET JSON; ``dotnet_type`` is the ``$type`` it had (written back first)."""

    def __init__(self, items: Mapping[str, Any] | None = None, dotnet_type: str | None = None) -> None:
        super().__init__(items or {})
        self.dotnet_type = dotnet_type

_NEWTONSOFT_ESCAPES = (("\u0085", "\\u0085"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def dumps(value: Any) -> str:
    """Compact JSON as Newtonsoft writes it: non-ASCII raw, except U+0085/U+2028/U+2029 escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in _NEWTONSOFT_ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def show(value: Any) -> str:
    return repr(value[:60]) if isinstance(value, str) else repr(value)[:60]


def loads(text: str, *, where: str) -> Any:
    """Parse JSON text; invalid text raises a one-line :class:`FormatError` starting with ``where``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise FormatError(
            f"{where} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}): {show(text)}"
        ) from None
    except RecursionError:
        raise FormatError(f"{where} is JSON nested too deeply: {show(text)}") from None


def wrong(where: str, expected: str, raw: Any) -> FormatError:
    return FormatError(f"{where}: expected {expected}, got {show(raw)}")


def expect_object(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise wrong(where, "a JSON object", raw)
    return raw


def strip_types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_types(v) for k, v in value.items() if k != "$type"}
    if isinstance(value, list):
        return [strip_types(v) for v in value]
    return value

class Shape:
    """How one class is written: its ``$type`` (None: never written) and its members in wire order."""

    def __init__(
        self,
        cls: type[Any],
        dotnet_type: str | None,
        members: tuple[Member, ...],
        omit_none: Iterable[str] = (),
    ) -> None:
        self.cls, self.dotnet_type, self.members, self.omit_none = (
            cls,
            dotnet_type,
            members,
            frozenset(omit_none),
        )
        init = [f for f in fields(cls) if f.init]
        self.init = frozenset(f.name for f in init)
        self.nullable = frozenset(f.name for f in init if "None" in str(f.type) or str(f.type) == "Any")
        self.required = frozenset(
            f.name for f in init if f.default is MISSING and f.default_factory is MISSING
        )

def enc_dict(value: Any, typed: bool) -> Any:
    if value is None:
        return None
    dotnet_type = getattr(value, "dotnet_type", None) if typed else None
    head = {"$type": dotnet_type} if dotnet_type else {}
    return {**head, **(value if typed else strip_types(value))}

def checked(expected: str, accept: Callable[[Any], bool]) -> Decoder:
    def decode(raw: Any, where: str) -> Any:
        if raw is None or accept(raw):
            return raw
        raise wrong(where, expected, raw)

    return decode


def dec_datetime(raw: Any, where: str) -> Any:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise wrong(where, "a DateTime string", raw)
    try:
        return parse_datetime(raw)
    except FormatError as err:
        raise FormatError(f"{where}: {err}") from None

def dec_dict(raw: Any, where: str, *, str_values: bool) -> Any:
    if raw is None:
        return None
    items = {k: v for k, v in expect_object(raw, where).items() if k != "$type"}
    for key, value in items.items() if str_values else ():
        if value is not None and not isinstance(value, str):
            raise wrong(f"{where}.{key}", "a string", value)
    dotnet_type = raw.get("$type")
    return NetDict(items, dotnet_type if isinstance(dotnet_type, str) else None)
