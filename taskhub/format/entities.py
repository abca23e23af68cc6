"""Durable-entity wire format: ids, .NET tick stamps, Request/Response/Release messages, SchedulerState and
EntityStatus JSON, byte for byte as Durable Functions writes them (entities.md 1.1, 1.5, 2.1-2.3, 4.1, 4.2).

* An entity's instance id is ``"@" + name.lower() + "@" + key``; parsing splits at the second ``@`` (a key
  may contain ``@``).
* :class:`Stamp` is a .NET ``DateTime`` kept as integer 100-ns ticks plus its Kind: ``Z`` is written for UTC
  values, nothing for Unspecified ones (``DateTime.MinValue`` and the sorter's tick bumps). Comparisons
  are by ticks only, as .NET compares them.
* Messages are written with the keys in the serialized order of the classic classes and without ``$type``;
  reading ignores ``$type`` and unknown keys (``IsLockRequest``, ``createTrace``, ...).
* The scheduler state and EntityStatus are in :mod:`taskhub.format.entity_state`. ``SchedulerState`` also carries ``taskhubRecent`` (our extension, omitted when empty): the request ids
  accepted by the last batches, so that messages redelivered after a crash between a checkpoint and the
  deletion of its messages are not applied twice. .NET readers ignore unknown keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from taskhub.errors import FormatError
from taskhub.format.netjson import dumps, expect_object, loads, wrong
from taskhub.format.timefmt import hundred_ns_of, to_utc

__all__ = [
    "Stamp",
    "MIN_STAMP",
    "TICKS_PER_SECOND",
    "stamp_of",
    "stamp_from_text",
    "stamp_text",
    "stamp_datetime",
    "entity_instance_id",
    "parse_entity_instance_id",
    "is_entity_instance",
    "check_entity_name",
    "check_entity_key",
    "check_operation_name",
    "MAX_ENTITY_NAME",
    "MAX_ENTITY_KEY",
    "MAX_OPERATION_NAME",
    "LOCK_GRANTED",
    "RequestMessage",
    "ResponseMessage",
    "ReleaseMessage",
    "delayed_event_name",
    "delayed_event_time",
    "is_request_event",
]

TICKS_PER_SECOND = 10_000_000
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
LOCK_GRANTED = "Lock Acquisition Completed"
"""The result of a lock grant's ResponseMessage (entities.md 2.3); receivers ignore it."""


class Stamp(int):
    """.NET DateTime as 100-ns ticks since 0001-01-01; ``utc`` is its Kind (``Z`` written or not)."""

    utc: bool

    def __new__(cls, ticks: int, utc: bool = True) -> Stamp:
        self = super().__new__(cls, ticks)
        self.utc = utc
        return self

    def __repr__(self) -> str:
        return f"Stamp({stamp_text(self)!r})"


MIN_STAMP = Stamp(0, utc=False)
"""``DateTime.MinValue``, written ``0001-01-01T00:00:00``."""


def stamp_of(moment: datetime) -> Stamp:
    """The UTC ticks of an aware datetime (a NetDateTime keeps its 7th digit)."""
    utc = to_utc(moment)
    delta = utc - _EPOCH
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Stamp(micros * 10 + hundred_ns_of(utc), utc=True)


def stamp_datetime(stamp: int) -> datetime:
    """An aware UTC datetime (microsecond resolution) for ticks."""
    return _EPOCH + timedelta(microseconds=int(stamp) // 10)


def stamp_text(stamp: int) -> str:
    """Newtonsoft text: ``2024-05-01T10:00:01.5Z``; no ``Z`` for Unspecified values."""
    ticks = int(stamp)
    dt = _EPOCH + timedelta(microseconds=ticks // 10)
    frac = f"{(ticks % TICKS_PER_SECOND):07d}".rstrip("0")
    text = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    text += f".{frac}" if frac else ""
    return text + ("Z" if getattr(stamp, "utc", True) else "")


_STAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})?", re.ASCII
)


def stamp_from_text(text: Any, where: str = "DateTime") -> Stamp:
    """Parse DateTime text; ``Z`` or an offset gives a UTC stamp, no zone an Unspecified one."""
    match = _STAMP.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise wrong(where, "a DateTime string", text)
    y, mo, d, h, mi, s = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    try:
        base = datetime(y, mo, d, h, mi, s, tzinfo=UTC)
    except ValueError as err:
        raise FormatError(f"{where}: not a valid DateTime {text!r} ({err})") from None
    zone = match.group(8)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        base -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    delta = base - _EPOCH
    ticks = (delta.days * 86400 + delta.seconds) * TICKS_PER_SECOND + int(
        (match.group(7) or "").ljust(7, "0")
    )
    return Stamp(ticks, utc=zone is not None)


# --- ids --------------------------------------------------------------------------------------------


MAX_ENTITY_NAME = 100
"""Characters of an entity name at most (``@name@key`` is a table PartitionKey, at most 1 KiB)."""
MAX_ENTITY_KEY = 400
"""Characters of an entity key at most."""
MAX_OPERATION_NAME = 100
"""Characters of an entity operation name at most."""


def check_entity_name(name: Any, *, limit: bool = True) -> str:
    """The lower-cased entity name; ``ValueError`` for a non-string, empty, ``@``-holding or (``limit``)
    too long name."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"entity name must be a non-empty string, got {name!r:.60}")
    if limit and len(name) > MAX_ENTITY_NAME:
        raise ValueError(f"entity name must be at most {MAX_ENTITY_NAME} characters, got {len(name)}")
    if "@" in name:
        raise ValueError(f"entity name {name!r} contains '@'; entity names may not contain '@'")
    return name.lower()


def check_operation_name(operation: Any) -> str:
    """The operation name unchanged; ``ValueError`` for a non-string, empty or too long one."""
    if not isinstance(operation, str) or not operation:
        raise ValueError(f"operation must be a non-empty string, got {operation!r:.60}")
    if len(operation) > MAX_OPERATION_NAME:
        raise ValueError(
            f"operation name must be at most {MAX_OPERATION_NAME} characters, got {len(operation)}"
        )
    return operation


def check_entity_key(key: Any, *, limit: bool = True) -> str:
    """The key unchanged; ``ValueError`` for a non-string, (``limit``) a too long one or one with control
    characters."""
    if not isinstance(key, str):
        raise ValueError(f"entity key must be a string, got {type(key).__name__} {key!r:.40}")
    if limit and len(key) > MAX_ENTITY_KEY:
        raise ValueError(f"entity key must be at most {MAX_ENTITY_KEY} characters, got {len(key)}")
    bad = next((c for c in key if ord(c) < 32 or 127 <= ord(c) < 160), None)
    if bad is not None:
        raise ValueError(f"entity key {key!r:.60} contains the control character {bad!r}; keys may not")
    return key


def entity_instance_id(name: str, key: str) -> str:
    """``@name@key`` with the name lower-cased (entities.md 1.1)."""
    return f"@{check_entity_name(name)}@{check_entity_key(key)}"


def is_entity_instance(instance_id: str | None) -> bool:
    return bool(instance_id) and instance_id[0] == "@"  # type: ignore[index]


def parse_entity_instance_id(instance_id: str) -> tuple[str, str]:
    """``(name, key)`` of ``@name@key``; ``ValueError`` when it is not an entity id."""
    if not isinstance(instance_id, str) or not instance_id.startswith("@"):
        raise ValueError(f"{instance_id!r} is not an entity instance id (those look like '@name@key')")
    at = instance_id.find("@", 1)
    if at < 0:
        raise ValueError(f"{instance_id!r} is not an entity instance id: no '@' between name and key")
    return instance_id[1:at], instance_id[at + 1 :]


# --- delayed signals --------------------------------------------------------------------------------


def delayed_event_name(capped: int) -> str:
    """``op@2024-05-01T12:00:00.0000000Z``: the "o" format, always 7 digits and ``Z``."""
    ticks = int(capped)
    dt = _EPOCH + timedelta(microseconds=ticks // 10)
    return f"op@{dt.strftime('%Y-%m-%dT%H:%M:%S')}.{ticks % TICKS_PER_SECOND:07d}Z"


def delayed_event_time(name: str | None) -> datetime | None:
    """When a delayed entity message (``op@<time>``) should become visible; ``None`` for other names."""
    if not name or len(name) < 4 or not name.startswith("op@"):
        return None
    try:
        return stamp_datetime(stamp_from_text(name[3:]))
    except FormatError:
        return None


def is_request_event(name: str | None) -> bool:
    return bool(name) and name.startswith("op")  # type: ignore[union-attr]


# --- messages ---------------------------------------------------------------------------------------


def _opt_str(raw: Any, where: str) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    raise wrong(where, "a string", raw)


def _opt_stamp(raw: Any, where: str) -> Stamp | None:
    return None if raw is None else stamp_from_text(raw, where)


@dataclass
class RequestMessage:
    """An operation call, a signal or a lock request (entities.md 2.2)."""

    id: str
    op: str | None = None
    signal: bool = False
    input: str | None = None
    parent: str | None = None
    parent_execution: str | None = None
    due: Stamp | None = None
    timestamp: Stamp = MIN_STAMP
    predecessor: Stamp = MIN_STAMP
    lockset: list[tuple[str, str]] | None = None
    pos: int = 0

    @property
    def is_lock_request(self) -> bool:
        return self.lockset is not None

    def to_obj(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"op": self.op}
        if self.signal:
            obj["signal"] = True
        if self.input is not None:
            obj["input"] = self.input
        obj["id"] = self.id
        if self.parent is not None:
            obj["parent"] = self.parent
        if self.parent_execution is not None:
            obj["parentExecution"] = self.parent_execution
        if self.due is not None:
            obj["due"] = stamp_text(self.due)
        obj["Timestamp"] = stamp_text(self.timestamp)
        obj["Predecessor"] = stamp_text(self.predecessor)
        if self.lockset is not None:
            obj["lockset"] = [{"name": n, "key": k} for n, k in self.lockset]
        if self.pos:
            obj["pos"] = self.pos
        return obj

    def to_json(self) -> str:
        return dumps(self.to_obj())

    @classmethod
    def from_obj(cls, raw: Any, where: str = "RequestMessage") -> RequestMessage:
        obj = expect_object(raw, where)
        rid = obj.get("id")
        if not isinstance(rid, str):
            raise wrong(f"{where}.id", "a request id string", rid)
        lockset = obj.get("lockset")
        locks: list[tuple[str, str]] | None = None
        if lockset is not None:
            if not isinstance(lockset, list):
                raise wrong(f"{where}.lockset", "a list of entity ids", lockset)
            locks = []
            for item in lockset:
                entry = expect_object(item, f"{where}.lockset[]")
                name, key = entry.get("name"), entry.get("key")
                if not isinstance(name, str) or not isinstance(key, str):
                    raise wrong(f"{where}.lockset[]", '{"name": str, "key": str}', item)
                locks.append((name, key))
        pos = obj.get("pos", 0)
        if not isinstance(pos, int) or isinstance(pos, bool):
            raise wrong(f"{where}.pos", "an integer", pos)
        return cls(
            id=rid,
            op=_opt_str(obj.get("op"), f"{where}.op"),
            signal=bool(obj.get("signal", False)),
            input=_opt_str(obj.get("input"), f"{where}.input"),
            parent=_opt_str(obj.get("parent"), f"{where}.parent"),
            parent_execution=_opt_str(obj.get("parentExecution"), f"{where}.parentExecution"),
            due=_opt_stamp(obj.get("due"), f"{where}.due"),
            timestamp=_opt_stamp(obj.get("Timestamp"), f"{where}.Timestamp") or MIN_STAMP,
            predecessor=_opt_stamp(obj.get("Predecessor"), f"{where}.Predecessor") or MIN_STAMP,
            lockset=locks,
            pos=pos,
        )

    @classmethod
    def from_json(cls, text: str | None) -> RequestMessage:
        return cls.from_obj(loads(text or "null", where="RequestMessage"))


@dataclass
class ResponseMessage:
    """An operation's result or failure, or a lock grant (entities.md 2.3)."""

    result: str | None = None
    exception_type: str | None = None
    failure_details: dict[str, Any] | None = None

    @property
    def is_error(self) -> bool:
        return self.exception_type is not None

    def to_json(self) -> str:
        obj: dict[str, Any] = {"result": self.result}
        if self.exception_type is not None:
            obj["exceptionType"] = self.exception_type
        if self.failure_details is not None:
            obj["failureDetails"] = self.failure_details
        return dumps(obj)

    @classmethod
    def from_json(cls, text: str | None) -> ResponseMessage:
        obj = expect_object(loads(text or "null", where="ResponseMessage"), "ResponseMessage")
        details = obj.get("failureDetails")
        return cls(
            result=_opt_str(obj.get("result"), "ResponseMessage.result"),
            exception_type=_opt_str(obj.get("exceptionType"), "ResponseMessage.exceptionType"),
            failure_details=details if isinstance(details, dict) else None,
        )


@dataclass
class ReleaseMessage:
    """``{"parent": O, "id": G}``: O releases the lock it took with request G (entities.md 2.5)."""

    parent: str
    id: str

    def to_json(self) -> str:
        return dumps({"parent": self.parent, "id": self.id})

    @classmethod
    def from_json(cls, text: str | None) -> ReleaseMessage:
        obj = expect_object(loads(text or "null", where="ReleaseMessage"), "ReleaseMessage")
        parent, rid = obj.get("parent"), obj.get("id")
        if not isinstance(parent, str):
            raise wrong("ReleaseMessage.parent", "an instance id string", parent)
        return cls(parent=parent, id=rid if isinstance(rid, str) else "")
