"""Queue message codec: ``MessageData`` JSON exactly as DurableTask.AzureStorage writes it (storage-format.md 3).

Writing follows Newtonsoft with ``TypeNameHandling.Objects``: compact JSON; ``$type`` first on every
typed object (MessageData, TaskMessage, the event, OrchestrationInstance, ParentInstance, FailureDetails,
DistributedTraceContext, OrchestrationExecutionContext); enums as integers; DateTimes via
:mod:`taskhub.timefmt`; ``Episode`` and ``Sender`` omitted when None; ``Sender`` without ``$type``.
Dictionaries (tags, FailureDetails.Properties) carry a ``$type`` only when one was read
(:class:`NetDict`, :attr:`ExecutionContext.tags_type`); new ones are written without it.

Reading accepts raw JSON or Base64 of it, ignores ``$type`` keys and unknown members, and gives
missing members their defaults. The event class comes from the event's ``$type`` when that names a
known class (the .NET reader does the same), else from ``EventType``.

An object decoded here remembers the members its JSON lacked (attribute ``_wire_absent``). While such
a member still holds the value it got at decoding, re-encoding leaves it out, so a message written by
an older .NET version (e.g. a TaskScheduledEvent without ``Tags``) re-encodes byte for byte.

Every object is described by a schema of ``(attribute, wire name, kind)`` members (the events use their
own ``WIRE``); there is one encoder and one decoder per kind, in ``_ENCODERS`` / ``_DECODERS``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from functools import partial
from typing import Any

from taskhub.errors import FormatError
from taskhub.history import (
    EVENT_CLASSES,
    EventType,
    FailureDetails,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    ParentInstance,
    TraceContext,
)
from taskhub.timefmt import format_datetime, parse_datetime

__all__ = [
    "MessageData",
    "TaskMessage",
    "ExecutionContext",
    "NetDict",
    "encode_message",
    "decode_message",
    "encode_base64",
    "event_to_json_obj",
    "event_from_json_obj",
    "encode_value",
    "decode_value",
    "dumps",
    "loads",
    "new_activity_id",
    "next_sequence_number",
    "large_message_wrapper",
    "MAX_QUEUE_MESSAGE_BYTES",
    "EMPTY_ACTIVITY_ID",
]

MAX_QUEUE_MESSAGE_BYTES = 45 * 1024
"""Largest queue body (UTF-8 bytes of the JSON) sent inline; a bigger one goes to a blob (3.6)."""

EMPTY_ACTIVITY_ID = "00000000-0000-0000-0000-000000000000"

Member = tuple[str, str, str]
Encoder = Callable[[Any, bool], Any]
Decoder = Callable[[Any, str], Any]
_ABSENT = "_wire_absent"


# --- ids ---------------------------------------------------------------------------------------------

_sequence = itertools.count(1)
_sequence_lock = threading.Lock()


def new_activity_id() -> str:
    """A new ActivityId: a random GUID in "D" format (lower case, with dashes)."""
    return str(uuid.uuid4())


def next_sequence_number() -> int:
    """The per-process MessageData.SequenceNumber counter: 1, 2, 3, ... (thread-safe)."""
    with _sequence_lock:
        return next(_sequence)


class NetDict(dict[str, Any]):
    """A dictionary read from .NET JSON; ``dotnet_type`` is the ``$type`` it had (written back first)."""

    def __init__(self, items: Mapping[str, Any] | None = None, dotnet_type: str | None = None) -> None:
        super().__init__(items or {})
        self.dotnet_type = dotnet_type


@dataclass
class ExecutionContext:
    """``OrchestrationExecutionContext``: the orchestration's tags, sent with activity and
    sub-orchestration messages. ``tags_type`` is the tags' ``$type`` as read (None writes none)."""

    tags: dict[str, str] = field(default_factory=dict)
    tags_type: str | None = field(default=None, compare=False)


@dataclass
class TaskMessage:
    """``DurableTask.Core.TaskMessage``: an event addressed to an orchestration instance (3.3)."""

    event: HistoryEvent
    orchestration_instance: OrchestrationInstance
    sequence_number: int = 0
    orchestration_execution_context: ExecutionContext | None = None


@dataclass
class MessageData:
    """``DurableTask.AzureStorage.MessageData``, the queue message envelope (3.2). By default a new
    message gets a new ActivityId and the next per-process SequenceNumber."""

    task_message: TaskMessage | None = None
    activity_id: str = field(default_factory=new_activity_id)
    compressed_blob_name: str | None = None
    sequence_number: int = field(default_factory=next_sequence_number)
    episode: int | None = None
    sender: OrchestrationInstance | None = None
    serializable_trace_context: str | None = None


def large_message_wrapper(blob_name: str) -> MessageData:
    """The queue message that stands for a message offloaded to ``blob_name`` (3.6)."""
    return MessageData(None, EMPTY_ACTIVITY_ID, blob_name, 0)


# --- JSON text ---------------------------------------------------------------------------------------

_NEWTONSOFT_ESCAPES = (("\u0085", "\\u0085"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def dumps(value: Any) -> str:
    """Compact JSON as Newtonsoft writes it: non-ASCII raw, except U+0085/U+2028/U+2029 escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in _NEWTONSOFT_ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def _show(value: Any) -> str:
    return repr(value[:60]) if isinstance(value, str) else repr(value)[:60]


def loads(text: str, *, where: str) -> Any:
    """Parse JSON text; invalid text raises a one-line :class:`FormatError` starting with ``where``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise FormatError(
            f"{where} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}): {_show(text)}"
        ) from None
    except RecursionError:
        raise FormatError(f"{where} is JSON nested too deeply: {_show(text)}") from None


def _wrong(where: str, expected: str, raw: Any) -> FormatError:
    return FormatError(f"{where}: expected {expected}, got {_show(raw)}")


def _expect_object(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _wrong(where, "a JSON object", raw)
    return raw


def _strip_types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_types(v) for k, v in value.items() if k != "$type"}
    if isinstance(value, list):
        return [_strip_types(v) for v in value]
    return value


# --- object shapes ------------------------------------------------------------------------------------


class _Shape:
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


def _encode_shape(shape: _Shape, obj: Any, typed: bool) -> dict[str, Any] | None:
    if obj is None:
        return None
    out: dict[str, Any] = {"$type": shape.dotnet_type} if typed and shape.dotnet_type else {}
    absent: dict[str, Any] = getattr(obj, _ABSENT, None) or {}
    for attr, wire, kind in shape.members:
        value = getattr(obj, attr)
        if value is None and wire in shape.omit_none:
            continue
        if wire in absent and absent[wire] == value:
            continue
        out[wire] = _ENCODERS[kind](value, typed)
    return out


def _decode_shape(shape: _Shape, raw: Any, where: str) -> Any:
    if raw is None:
        return None
    obj = _expect_object(raw, where)
    kwargs: dict[str, Any] = {}
    absent: list[Member] = []
    for member in shape.members:
        attr, wire, kind = member
        if wire not in obj:
            absent.append(member)
        elif attr in shape.init:
            value = _DECODERS[kind](obj[wire], f"{where}.{wire}")
            if value is not None or attr in shape.nullable:
                kwargs[attr] = value
    missing = [wire for attr, wire, _ in shape.members if attr in shape.required and attr not in kwargs]
    if missing:
        raise FormatError(f"{where}: missing {', '.join(missing)}")
    result = shape.cls(**kwargs)
    if absent:
        setattr(result, _ABSENT, {wire: copy.deepcopy(getattr(result, attr)) for attr, wire, _ in absent})
    return result


# fmt: off
_ID: tuple[Member, ...] = (("instance_id", "InstanceId", "str"), ("execution_id", "ExecutionId", "str"))
_SHAPES: dict[str, _Shape] = {
    "instance": _Shape(OrchestrationInstance, "DurableTask.Core.OrchestrationInstance", _ID),
    "sender": _Shape(OrchestrationInstance, None, _ID),
    "parent": _Shape(ParentInstance, "DurableTask.Core.ParentInstance", (
        ("name", "Name", "str"),
        ("orchestration_instance", "OrchestrationInstance", "instance"),
        ("task_schedule_id", "TaskScheduleId", "int"),
        ("version", "Version", "str"))),
    "failure": _Shape(FailureDetails, "DurableTask.Core.FailureDetails", (
        ("error_type", "ErrorType", "str"),
        ("message", "ErrorMessage", "str"),
        ("stack_trace", "StackTrace", "str"),
        ("inner_failure", "InnerFailure", "failure"),
        ("is_non_retriable", "IsNonRetriable", "bool"),
        ("properties", "Properties", "props"))),
    "trace": _Shape(TraceContext, "DurableTask.Core.Tracing.DistributedTraceContext", (
        ("trace_parent", "TraceParent", "str"),
        ("trace_state", "TraceState", "str"),
        ("id", "Id", "str"),
        ("span_id", "SpanId", "str"),
        ("activity_start_time", "ActivityStartTime", "str"))),
    "task_message": _Shape(TaskMessage, "DurableTask.Core.TaskMessage", (
        ("event", "Event", "event"),
        ("sequence_number", "SequenceNumber", "int"),
        ("orchestration_instance", "OrchestrationInstance", "instance"),
        ("orchestration_execution_context", "OrchestrationExecutionContext", "context"))),
    "message_data": _Shape(MessageData, "DurableTask.AzureStorage.MessageData", (
        ("activity_id", "ActivityId", "str"),
        ("task_message", "TaskMessage", "task_message"),
        ("compressed_blob_name", "CompressedBlobName", "str"),
        ("sequence_number", "SequenceNumber", "int"),
        ("episode", "Episode", "int"),
        ("sender", "Sender", "sender"),
        ("serializable_trace_context", "SerializableTraceContext", "str")),
        omit_none=("Episode", "Sender")),
}
# fmt: on
_CONTEXT_TYPE = "DurableTask.Core.OrchestrationExecutionContext"
_EVENT_BY_DOTNET_TYPE = {cls.dotnet_type(): cls for cls in EVENT_CLASSES.values()}
_EVENT_SHAPES = {cls: _Shape(cls, cls.dotnet_type(), cls.WIRE) for cls in EVENT_CLASSES.values()}


def _event_shape(cls: type[HistoryEvent]) -> _Shape:
    return _EVENT_SHAPES.get(cls) or _Shape(cls, cls.dotnet_type(), cls.WIRE)


def _event_class_of(obj: dict[str, Any], where: str) -> type[HistoryEvent]:
    dotnet_type = obj.get("$type")
    if isinstance(dotnet_type, str) and dotnet_type in _EVENT_BY_DOTNET_TYPE:
        return _EVENT_BY_DOTNET_TYPE[dotnet_type]
    code = obj.get("EventType")
    if code is None:
        if dotnet_type is None:
            raise FormatError(f"{where}: the event has neither $type nor EventType")
        raise FormatError(f"{where}: unknown event $type {_show(dotnet_type)} and no EventType")
    if isinstance(code, str) and code in EventType.__members__:
        code = EventType[code]
    if isinstance(code, int) and not isinstance(code, bool) and code in EventType._value2member_map_:
        if EventType(code) in EVENT_CLASSES:
            return EVENT_CLASSES[EventType(code)]
        raise FormatError(f"{where}: EventType {int(code)} ({EventType(code).name}) has no event class")
    raise FormatError(f"{where}: unknown EventType {code if isinstance(code, int) else _show(code)}")


def event_to_json_obj(event: HistoryEvent, *, typed: bool = True) -> dict[str, Any]:
    """The event as a JSON object in .NET member order; ``typed`` puts ``$type`` on typed objects."""
    if not isinstance(event, HistoryEvent):
        raise TypeError(f"expected a HistoryEvent, got {type(event).__name__}")
    out = _encode_shape(_event_shape(type(event)), event, typed)
    assert out is not None
    return out


def event_from_json_obj(obj: Any, *, where: str = "event") -> HistoryEvent:
    """The event for a JSON object (with or without ``$type``). Bad data raises :class:`FormatError`."""
    raw = _expect_object(obj, where)
    event: HistoryEvent = _decode_shape(_event_shape(_event_class_of(raw, where)), raw, where)
    return event


# --- one encoder and one decoder per kind ---------------------------------------------------------------


def _enc_dict(value: Any, typed: bool) -> Any:
    if value is None:
        return None
    dotnet_type = getattr(value, "dotnet_type", None) if typed else None
    head = {"$type": dotnet_type} if dotnet_type else {}
    return {**head, **(value if typed else _strip_types(value))}


def _enc_context(value: Any, typed: bool) -> Any:
    if value is None:
        return None
    tags = None if value.tags is None else NetDict(value.tags, value.tags_type)
    head = {"$type": _CONTEXT_TYPE} if typed else {}
    return {**head, "OrchestrationTags": _enc_dict(tags, typed)}


def _checked(expected: str, accept: Callable[[Any], bool]) -> Decoder:
    def decode(raw: Any, where: str) -> Any:
        if raw is None or accept(raw):
            return raw
        raise _wrong(where, expected, raw)

    return decode


def _dec_datetime(raw: Any, where: str) -> Any:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _wrong(where, "a DateTime string", raw)
    try:
        return parse_datetime(raw)
    except FormatError as err:
        raise FormatError(f"{where}: {err}") from None


def _dec_status(raw: Any, where: str) -> Any:
    if raw is None:
        return None
    try:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return OrchestrationStatus.from_code(raw)
        if isinstance(raw, str):
            return OrchestrationStatus(raw)
    except ValueError:
        pass
    raise FormatError(f"{where}: unknown OrchestrationStatus {_show(raw)}")


def _dec_dict(raw: Any, where: str, *, str_values: bool) -> Any:
    if raw is None:
        return None
    items = {k: v for k, v in _expect_object(raw, where).items() if k != "$type"}
    for key, value in items.items() if str_values else ():
        if value is not None and not isinstance(value, str):
            raise _wrong(f"{where}.{key}", "a string", value)
    dotnet_type = raw.get("$type")
    return NetDict(items, dotnet_type if isinstance(dotnet_type, str) else None)


def _dec_context(raw: Any, where: str) -> Any:
    if raw is None:
        return None
    tags = _dec_dict(
        _expect_object(raw, where).get("OrchestrationTags"), f"{where}.OrchestrationTags", str_values=True
    )
    return ExecutionContext() if tags is None else ExecutionContext(dict(tags), tags.dotnet_type)


_ENCODERS: dict[str, Encoder] = {
    "str": lambda value, typed: value,
    "int": lambda value, typed: value,
    "bool": lambda value, typed: value,
    "datetime": lambda value, typed: None if value is None else format_datetime(value),
    "event_type": lambda value, typed: int(EventType(value)),
    "status": lambda value, typed: None if value is None else OrchestrationStatus(value).code,
    "tags": _enc_dict,
    "props": _enc_dict,
    "json": lambda value, typed: value if typed else _strip_types(value),
    "event": lambda value, typed: None if value is None else event_to_json_obj(value, typed=typed),
    "context": _enc_context,
    **{kind: partial(_encode_shape, shape) for kind, shape in _SHAPES.items()},
}
_DECODERS: dict[str, Decoder] = {
    "str": _checked("a string", lambda raw: isinstance(raw, str)),
    "int": _checked("an integer", lambda raw: isinstance(raw, int) and not isinstance(raw, bool)),
    "bool": _checked("true or false", lambda raw: isinstance(raw, bool)),
    "datetime": _dec_datetime,
    "event_type": lambda raw, where: raw,  # never decoded: an event's EventType comes from its class
    "status": _dec_status,
    "tags": partial(_dec_dict, str_values=True),
    "props": partial(_dec_dict, str_values=False),
    "json": lambda raw, where: raw,
    "event": lambda raw, where: None if raw is None else event_from_json_obj(raw, where=where),
    "context": _dec_context,
    **{kind: partial(_decode_shape, shape) for kind, shape in _SHAPES.items()},
}


def _check_kinds() -> None:
    members = [m for cls in EVENT_CLASSES.values() for m in cls.WIRE]
    members += [m for shape in _SHAPES.values() for m in shape.members]
    unknown = {kind for _, _, kind in members} - (_ENCODERS.keys() & _DECODERS.keys())
    if unknown:
        raise RuntimeError(f"member kinds without an encoder/decoder: {sorted(unknown)}")


_check_kinds()


def encode_value(kind: str, value: Any, *, typed: bool = True) -> Any:
    """The JSON value of a member of ``kind`` (``typed=False``: no ``$type``, as in table columns)."""
    return _ENCODERS[kind](value, typed)


def decode_value(kind: str, raw: Any, *, where: str) -> Any:
    """The Python value of a member of ``kind`` from its JSON value; ``where`` names it in errors."""
    return _DECODERS[kind](raw, where)


# --- messages ------------------------------------------------------------------------------------------


def encode_message(md: MessageData) -> str:
    """The queue body (compact JSON text) of ``md``, as DurableTask.AzureStorage writes it."""
    return dumps(_encode_shape(_SHAPES["message_data"], md, True))


def encode_base64(text: str) -> str:
    """Base64 of the UTF-8 text (the ``QueueClientMessageEncoding: Base64`` setting)."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _body_json(body: str | bytes) -> Any:
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FormatError(f"queue message is not UTF-8 text: {body[:60]!r}") from None
    text = body.lstrip("\ufeff \t\r\n")
    if text.startswith("{"):
        return loads(text, where="queue message")
    try:
        if not text:
            raise ValueError("empty")
        decoded = base64.b64decode(text, validate=True).decode("utf-8-sig").lstrip()
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise FormatError(f"queue message is not JSON or Base64-encoded JSON: {_show(body)}") from None
    if not decoded.startswith("{"):
        raise FormatError(f"queue message is Base64 but the decoded text is not JSON: {_show(decoded)}")
    return loads(decoded, where="queue message (Base64-decoded)")


def decode_message(body: str | bytes) -> MessageData:
    """The MessageData of a queue body: raw JSON (starts with ``{``) or Base64 of it.

    A large-message wrapper decodes with ``task_message`` None; resolving it is the payload layer's job.
    Bad data raises a one-line :class:`FormatError`."""
    obj = _body_json(body)
    if not isinstance(obj, dict):
        raise FormatError(f"queue message JSON is not an object: {_show(obj)}")
    if not obj.get("CompressedBlobName"):
        task_message = obj.get("TaskMessage")
        if not isinstance(task_message, dict) or not isinstance(task_message.get("Event"), dict):
            raise FormatError(f"queue message JSON has no TaskMessage.Event: {_show(dumps(obj))}")
    md: MessageData = _decode_shape(_SHAPES["message_data"], obj, "queue message MessageData")
    return md
