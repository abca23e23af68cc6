"""History and Instances table rows (storage-format.md 4.1-4.5 and 5).

A row is a plain dict whose values are only ``str`` (Edm.String), ``int`` (Edm.Int32), ``bool``
(Edm.Boolean) and aware UTC ``datetime`` (Edm.DateTime); a None member is an absent column.

History columns follow the event's ``WIRE`` schema: ``Timestamp`` is renamed ``_Timestamp``, enums are
written as their names (``"TaskScheduled"``, ``"Completed"``), nested objects and dictionaries as plain
JSON text without ``$type`` (``"null"`` for None, as v2 writes), and every row carries ``ExecutionId``.
Readers are tolerant: a missing column, ``"null"`` and JSON null all mean None; PartitionKey, RowKey,
Timestamp, etag, ExecutionId and ``{Prop}BlobName`` columns are not part of the event (the payload layer
resolves blob columns before :func:`row_to_event`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from taskhub.errors import FormatError
from taskhub.format.history import (
    EVENT_CLASSES,
    EventType,
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationStatus,
)
from taskhub.format.messages import decode_value, dumps, encode_value, loads
from taskhub.format.names import SENTINEL_ROW_KEY, escape_partition_key, row_key, unescape_partition_key
from taskhub.format.timefmt import parse_datetime, to_utc

__all__ = [
    "Row",
    "HistoryLoad",
    "event_to_row",
    "row_to_event",
    "sentinel_row",
    "InstanceRow",
    "INSTANCE_COLUMNS",
    "VARIABLE_SIZE_PROPERTIES",
    "MAX_PROPERTY_UTF16_BYTES",
    "utf16_size",
    "HISTORY_BATCH_MAX_EVENTS",
    "HISTORY_BATCH_MAX_BYTES",
    "estimated_row_size",
    "split_history_batches",
]

Row = dict[str, Any]
"""A table row: column name -> ``str`` | ``int`` (Int32) | ``bool`` | aware ``datetime``."""

VARIABLE_SIZE_PROPERTIES = (
    "Name",
    "Input",
    "Result",
    "Output",
    "Reason",
    "Details",
    "Correlation",
    "FailureDetails",
    "Tags",
)
"""Columns that may be offloaded to a blob when too large (4.4)."""

MAX_PROPERTY_UTF16_BYTES = 60 * 1024
"""A variable-size column whose UTF-16 size is above this goes to a blob (4.4)."""

HISTORY_BATCH_MAX_EVENTS = 99
"""Events per History transaction; the sentinel makes it 100 operations (4.5)."""

HISTORY_BATCH_MAX_BYTES = 3 * 1024 * 1024
"""A History batch is flushed once its estimated size is above this (4.5)."""

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_R = TypeVar("_R", bound=Mapping[str, Any])
_Encoder = Callable[[Any, str], Any]
_Decoder = Callable[[Any, str], Any]


def utf16_size(text: str) -> int:
    """``Encoding.Unicode.GetByteCount(text)``: 2 bytes per UTF-16 code unit."""
    return len(text.encode("utf-16-le", "surrogatepass"))


def _column(wire: str) -> str:
    return "_Timestamp" if wire == "Timestamp" else wire


def _wrong(where: str, expected: str, raw: Any) -> FormatError:
    return FormatError(f"{where}: expected {expected}, got {type(raw).__name__} {repr(raw)[:60]}")


# --- one encoder and one decoder per member kind -------------------------------------------------------


def _put_str(value: Any, where: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{where}: expected a str, got {type(value).__name__}")


def _put_int(value: Any, where: str) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not _INT32_MIN <= value <= _INT32_MAX:
        raise ValueError(f"{where}: {value!r} is not an Edm.Int32")
    return int(value)


def _put_bool(value: Any, where: str) -> Any:
    return bool(value)


def _put_datetime(value: Any, where: str) -> Any:
    return None if value is None else to_utc(value)


def _put_event_type(value: Any, where: str) -> Any:
    return EventType(value).name


def _put_status(value: Any, where: str) -> Any:
    return None if value is None else OrchestrationStatus(value).value


def _put_json(kind: str) -> _Encoder:
    return lambda value, where: dumps(encode_value(kind, value, typed=False))


def _get_str(raw: Any, where: str) -> Any:
    if isinstance(raw, str):
        return raw
    raise _wrong(where, "a string", raw)


def _get_int(raw: Any, where: str) -> Any:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    raise _wrong(where, "an Int32", raw)


def _get_bool(raw: Any, where: str) -> Any:
    if isinstance(raw, bool):
        return raw
    raise _wrong(where, "a Boolean", raw)


def _get_datetime(raw: Any, where: str) -> Any:
    service_text = getattr(raw, "tables_service_value", None)  # azure-data-tables keeps the 7-digit text
    if isinstance(service_text, str) and service_text:
        raw = service_text
    if isinstance(raw, str):
        try:
            return parse_datetime(raw)
        except FormatError as err:
            raise FormatError(f"{where}: {err}") from None
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=UTC) if raw.utcoffset() is None else to_utc(raw)
    raise _wrong(where, "a DateTime", raw)


def _get_status(raw: Any, where: str) -> Any:
    try:
        return OrchestrationStatus(raw)
    except ValueError:
        raise FormatError(f"{where}: unknown OrchestrationStatus {repr(raw)[:60]}") from None


def _get_json(kind: str) -> _Decoder:
    def decode(raw: Any, where: str) -> Any:
        if not isinstance(raw, str):
            raise _wrong(where, "JSON text", raw)
        if raw in ("", "null"):
            return None
        return decode_value(kind, loads(raw, where=where), where=where)

    return decode


_SCALAR_ENCODERS: dict[str, _Encoder] = {
    "str": _put_str,
    "int": _put_int,
    "bool": _put_bool,
    "datetime": _put_datetime,
    "event_type": _put_event_type,
    "status": _put_status,
}
_SCALAR_DECODERS: dict[str, _Decoder] = {
    "str": _get_str,
    "int": _get_int,
    "bool": _get_bool,
    "datetime": _get_datetime,
    "status": _get_status,
}
_JSON_KINDS = {kind for cls in EVENT_CLASSES.values() for _, _, kind in cls.WIRE} - _SCALAR_ENCODERS.keys()
_JSON_KINDS.add("tags")
_ENCODERS: dict[str, _Encoder] = {**_SCALAR_ENCODERS, **{k: _put_json(k) for k in _JSON_KINDS}}
_DECODERS: dict[str, _Decoder] = {**_SCALAR_DECODERS, **{k: _get_json(k) for k in _JSON_KINDS}}


# --- History rows -----------------------------------------------------------------------------------------


def event_to_row(event: HistoryEvent, *, instance_id: str, sequence: int, execution_id: str) -> Row:
    """The History row of ``event``, the ``sequence``-th event of execution ``execution_id``."""
    row: Row = {"PartitionKey": escape_partition_key(instance_id), "RowKey": row_key(sequence)}
    name = type(event).__name__
    for attr, wire, kind in event.WIRE:
        value = _ENCODERS[kind](getattr(event, attr), f"{name}.{attr}")
        if value is not None:
            row[_column(wire)] = value
    row["ExecutionId"] = execution_id
    return row


def _event_class_named(name: Any, where: str) -> type[HistoryEvent]:
    if name is None:
        raise FormatError(f"{where} has no EventType column")
    if isinstance(name, str) and name in EventType.__members__ and EventType[name] in EVENT_CLASSES:
        return EVENT_CLASSES[EventType[name]]
    raise FormatError(f"{where}: unknown EventType {repr(name)[:60]}")


def row_to_event(row: Mapping[str, Any]) -> HistoryEvent:
    """The event a History row holds (its ``EventType`` column picks the class)."""
    where = f"history row {row.get('PartitionKey')!r}/{row.get('RowKey')!r}"
    cls = _event_class_named(row.get("EventType"), where)
    kwargs: dict[str, Any] = {}
    for attr, wire, kind in cls.WIRE:
        column = _column(wire)
        raw = row.get(column)
        if kind == "event_type" or raw is None:
            continue
        value = _DECODERS[kind](raw, f"{where} column {column}")
        if value is not None:
            kwargs[attr] = value
    return cls(**kwargs)


def sentinel_row(instance_id: str, execution_id: str, *, complete: bool, now: datetime) -> Row:
    """The ``sentinel`` History row of a checkpoint batch; only the final batch is ``complete`` (4.5)."""
    row: Row = {
        "PartitionKey": escape_partition_key(instance_id),
        "RowKey": SENTINEL_ROW_KEY,
        "ExecutionId": execution_id,
        "IsCheckpointComplete": complete,
    }
    if complete:
        row["CheckpointCompletedTimestamp"] = to_utc(now)
    return row


def estimated_row_size(row: Mapping[str, Any]) -> int:
    """DTFx's size estimate of a row: 1024 + the UTF-16 bytes of its variable-size string columns."""
    size = 1024
    for prop in VARIABLE_SIZE_PROPERTIES:
        value = row.get(prop)
        if isinstance(value, str):
            size += utf16_size(value)
    return size


def split_history_batches(rows: Iterable[_R]) -> list[list[_R]]:
    """Split new History rows into transactions: a batch closes at 99 rows or an estimate > 3 MiB.

    Sentinels are not included (the caller adds one to each batch). No rows give no batches."""
    batches: list[list[_R]] = []
    current: list[_R] = []
    size = 0
    for row in rows:
        current.append(row)
        size += estimated_row_size(row)
        if len(current) >= HISTORY_BATCH_MAX_EVENTS or size > HISTORY_BATCH_MAX_BYTES:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    return batches


# --- Instances rows -----------------------------------------------------------------------------------------

_INSTANCE_MEMBERS: tuple[tuple[str, str, str], ...] = (
    ("execution_id", "ExecutionId", "str"),
    ("name", "Name", "str"),
    ("version", "Version", "str"),
    ("input", "Input", "str"),
    ("output", "Output", "str"),
    ("custom_status", "CustomStatus", "str"),
    ("created_time", "CreatedTime", "datetime"),
    ("last_updated_time", "LastUpdatedTime", "datetime"),
    ("completed_time", "CompletedTime", "datetime"),
    ("runtime_status", "RuntimeStatus", "status"),
    ("scheduled_start_time", "ScheduledStartTime", "datetime"),
    ("generation", "Generation", "int"),
    ("tags", "Tags", "tags"),
    ("task_hub_name", "TaskHubName", "str"),
)
INSTANCE_COLUMNS = tuple(wire for _, wire, _ in _INSTANCE_MEMBERS)
"""The Instances columns (section 5), in order; names accepted by :meth:`InstanceRow.to_row`."""

_BLOB_NAME_SUFFIX = "BlobName"


@dataclass
class InstanceRow:
    """One ``{H}Instances`` row (section 5). ``instance_id`` is the unescaped id; ``blob_names`` keeps
    any ``{Prop}BlobName`` columns. ``custom_status`` and ``tags`` are written ``"null"`` when unset;
    None members are not written."""

    instance_id: str
    execution_id: str | None = None
    name: str | None = None
    version: str | None = None
    input: str | None = None
    output: str | None = None
    custom_status: str = "null"
    created_time: datetime | None = None
    last_updated_time: datetime | None = None
    completed_time: datetime | None = None
    runtime_status: OrchestrationStatus | None = None
    scheduled_start_time: datetime | None = None
    generation: int = 0
    tags: dict[str, str] | None = None
    task_hub_name: str | None = None
    blob_names: dict[str, str] = field(default_factory=dict)
    etag: str | None = field(default=None, compare=False)
    """The row's ETag as read (never written as a column)."""

    def to_row(self, columns: Collection[str] | None = None) -> Row:
        """The table row. ``columns`` (names from :data:`INSTANCE_COLUMNS` or ``{Prop}BlobName``)
        limits it to those, for a Merge that must leave the other columns alone."""
        if columns is not None:
            unknown = [c for c in columns if c not in INSTANCE_COLUMNS and not c.endswith(_BLOB_NAME_SUFFIX)]
            if unknown:
                raise ValueError(f"not Instances columns: {unknown}; known: {', '.join(INSTANCE_COLUMNS)}")
        row: Row = {"PartitionKey": escape_partition_key(self.instance_id), "RowKey": ""}
        for attr, wire, kind in _INSTANCE_MEMBERS:
            if columns is None or wire in columns:
                value = _ENCODERS[kind](getattr(self, attr), f"InstanceRow.{attr}")
                if value is not None:
                    row[wire] = value
        row.update((k, v) for k, v in self.blob_names.items() if columns is None or k in columns)
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> InstanceRow:
        """Read an Instances row (tolerant: missing columns get defaults; bad values raise FormatError)."""
        partition_key = row.get("PartitionKey")
        if not isinstance(partition_key, str):
            raise FormatError(f"instances row has no PartitionKey (columns: {', '.join(sorted(row))})")
        where = f"instances row {partition_key!r}"
        kwargs: dict[str, Any] = {}
        for attr, wire, kind in _INSTANCE_MEMBERS:
            raw = row.get(wire)
            if raw is not None:
                value = _DECODERS[kind](raw, f"{where} column {wire}")
                if value is not None:
                    kwargs[attr] = value
        blob_names = {k: v for k, v in row.items() if k.endswith(_BLOB_NAME_SUFFIX) and isinstance(v, str)}
        etag = getattr(row, "etag", None)  # the storage seam's Row carries it
        return cls(
            unescape_partition_key(partition_key),
            blob_names=blob_names,
            etag=etag if isinstance(etag, str) else None,
            **kwargs,
        )


@dataclass
class HistoryLoad:
    """An execution's history as read: its events, the sentinel row's ETag a commit must match, and
    when it was last checkpointed (``taskhub.hub.tracking.Tracking.load_history``)."""

    events: list[HistoryEvent] = field(default_factory=list)
    etag: str | None = None
    execution_id: str | None = None
    last_checkpoint: datetime | None = None

    @property
    def started(self) -> ExecutionStartedEvent | None:
        for e in self.events:
            if isinstance(e, ExecutionStartedEvent):
                return e
        return None
