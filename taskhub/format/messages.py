"""Queue message codec: ``MessageData`` JSON exactly as DurableTask.AzureStorage writes it (storage-format.md 3).

Writing follows Newtonsoft with ``TypeNameHandling.Objects``: compact JSON; ``$type`` first on every
typed object (MessageData, TaskMessage, the event, OrchestrationInstance, ParentInstance, FailureDetails,
DistributedTraceContext, OrchestrationExecutionContext); enums as integers; DateTimes via
:mod:`taskhub.format.timefmt`; ``Episode`` and ``Sender`` omitted when None; ``Sender`` without ``$type``.
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
import threading
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from taskhub.errors import FormatError
from taskhub.format.history import (
    EVENT_CLASSES,
    EventType,
    FailureDetails,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    ParentInstance,
    TraceContext,
)
from taskhub.format.netjson import (
    Decoder,
    Encoder,
    Member,
    NetDict,
    Shape,
    checked,
    dec_datetime,
    dec_dict,
    dumps,
    enc_dict,
    expect_object,
    loads,
    show,
    strip_types,
)
from taskhub.format.timefmt import format_datetime

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


# --- object shapes ------------------------------------------------------------------------------------


def _encode_shape(shape: Shape, obj: Any, typed: bool) -> dict[str, Any] | None:
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


def _decode_shape(shape: Shape, raw: Any, where: str) -> Any:
    if raw is None:
        return None
    obj = expect_object(raw, where)
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
_SHAPES: dict[str, Shape] = {
    "instance": Shape(OrchestrationInstance, "DurableTask.Core.OrchestrationInstance", _ID),
    "sender": Shape(OrchestrationInstance, None, _ID),
    "parent": Shape(ParentInstance, "DurableTask.Core.ParentInstance", (
        ("name", "Name", "str"),
        ("orchestration_instance", "OrchestrationInstance", "instance"),
        ("task_schedule_id", "TaskScheduleId", "int"),
        ("version", "Version", "str"))),
    "failure": Shape(FailureDetails, "DurableTask.Core.FailureDetails", (
        ("error_type", "ErrorType", "str"),
        ("message", "ErrorMessage", "str"),
        ("stack_trace", "StackTrace", "str"),
        ("inner_failure", "InnerFailure", "failure"),
        ("is_non_retriable", "IsNonRetriable", "bool"),
        ("properties", "Properties", "props"))),
    "trace": Shape(TraceContext, "DurableTask.Core.Tracing.DistributedTraceContext", (
        ("trace_parent", "TraceParent", "str"),
        ("trace_state", "TraceState", "str"),
        ("id", "Id", "str"),
        ("span_id", "SpanId", "str"),
        ("activity_start_time", "ActivityStartTime", "str"))),
    "task_message": Shape(TaskMessage, "DurableTask.Core.TaskMessage", (
        ("event", "Event", "event"),
        ("sequence_number", "SequenceNumber", "int"),
        ("orchestration_instance", "OrchestrationInstance", "instance"),
        ("orchestration_execution_context", "OrchestrationExecutionContext", "context"))),
    "message_data": Shape(MessageData, "DurableTask.AzureStorage.MessageData", (
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
_EVENT_SHAPES = {cls: Shape(cls, cls.dotnet_type(), cls.WIRE) for cls in EVENT_CLASSES.values()}


def _event_shape(cls: type[HistoryEvent]) -> Shape:
    return _EVENT_SHAPES.get(cls) or Shape(cls, cls.dotnet_type(), cls.WIRE)


def _event_class_of(obj: dict[str, Any], where: str) -> type[HistoryEvent]:
    dotnet_type = obj.get("$type")
    if isinstance(dotnet_type, str) and dotnet_type in _EVENT_BY_DOTNET_TYPE:
        return _EVENT_BY_DOTNET_TYPE[dotnet_type]
    code = obj.get("EventType")
    if code is None:
        if dotnet_type is None:
            raise FormatError(f"{where}: the event has neither $type nor EventType")
        raise FormatError(f"{where}: unknown event $type {show(dotnet_type)} and no EventType")
    if isinstance(code, str) and code in EventType.__members__:
        code = EventType[code]
    if isinstance(code, int) and not isinstance(code, bool) and code in EventType._value2member_map_:
        if EventType(code) in EVENT_CLASSES:
            return EVENT_CLASSES[EventType(code)]
        raise FormatError(f"{where}: EventType {int(code)} ({EventType(code).name}) has no event class")
    raise FormatError(f"{where}: unknown EventType {code if isinstance(code, int) else show(code)}")


def event_to_json_obj(event: HistoryEvent, *, typed: bool = True) -> dict[str, Any]:
    """The event as a JSON object in .NET member order; ``typed`` puts ``$type`` on typed objects."""
    if not isinstance(event, HistoryEvent):
        raise TypeError(f"expected a HistoryEvent, got {type(event).__name__}")
    out = _encode_shape(_event_shape(type(event)), event, typed)
    assert out is not None
    return out


def event_from_json_obj(obj: Any, *, where: str = "event") -> HistoryEvent:
    """The event for a JSON object (with or without ``$type``). Bad data raises :class:`FormatError`."""
    raw = expect_object(obj, where)
    event: HistoryEvent = _decode_shape(_event_shape(_event_class_of(raw, where)), raw, where)
    return event


# --- one encoder and one decoder per kind ---------------------------------------------------------------


def _enc_context(value: Any, typed: bool) -> Any:
    if value is None:
        return None
    tags = None if value.tags is None else NetDict(value.tags, value.tags_type)
    head = {"$type": _CONTEXT_TYPE} if typed else {}
    return {**head, "OrchestrationTags": enc_dict(tags, typed)}


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
    raise FormatError(f"{where}: unknown OrchestrationStatus {show(raw)}")


def _dec_context(raw: Any, where: str) -> Any:
    if raw is None:
        return None
    tags = dec_dict(
        expect_object(raw, where).get("OrchestrationTags"), f"{where}.OrchestrationTags", str_values=True
    )
    return ExecutionContext() if tags is None else ExecutionContext(dict(tags), tags.dotnet_type)


_ENCODERS: dict[str, Encoder] = {
    "str": lambda value, typed: value,
    "int": lambda value, typed: value,
    "bool": lambda value, typed: value,
    "datetime": lambda value, typed: None if value is None else format_datetime(value),
    "event_type": lambda value, typed: int(EventType(value)),
    "status": lambda value, typed: None if value is None else OrchestrationStatus(value).code,
    "tags": enc_dict,
    "props": enc_dict,
    "json": lambda value, typed: value if typed else strip_types(value),
    "event": lambda value, typed: None if value is None else event_to_json_obj(value, typed=typed),
    "context": _enc_context,
    **{kind: partial(_encode_shape, shape) for kind, shape in _SHAPES.items()},
}
_DECODERS: dict[str, Decoder] = {
    "str": checked("a string", lambda raw: isinstance(raw, str)),
    "int": checked("an integer", lambda raw: isinstance(raw, int) and not isinstance(raw, bool)),
    "bool": checked("true or false", lambda raw: isinstance(raw, bool)),
    "datetime": dec_datetime,
    "event_type": lambda raw, where: raw,  # never decoded: an event's EventType comes from its class
    "status": _dec_status,
    "tags": partial(dec_dict, str_values=True),
    "props": partial(dec_dict, str_values=False),
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
        raise FormatError(f"queue message is not JSON or Base64-encoded JSON: {show(body)}") from None
    if not decoded.startswith("{"):
        raise FormatError(f"queue message is Base64 but the decoded text is not JSON: {show(decoded)}")
    return loads(decoded, where="queue message (Base64-decoded)")


def decode_message(body: str | bytes) -> MessageData:
    """The MessageData of a queue body: raw JSON (starts with ``{``) or Base64 of it.

    A large-message wrapper decodes with ``task_message`` None; resolving it is the payload layer's job.
    Bad data raises a one-line :class:`FormatError`."""
    obj = _body_json(body)
    if not isinstance(obj, dict):
        raise FormatError(f"queue message JSON is not an object: {show(obj)}")
    if not obj.get("CompressedBlobName"):
        task_message = obj.get("TaskMessage")
        if not isinstance(task_message, dict) or not isinstance(task_message.get("Event"), dict):
            raise FormatError(f"queue message JSON has no TaskMessage.Event: {show(dumps(obj))}")
    md: MessageData = _decode_shape(_SHAPES["message_data"], obj, "queue message MessageData")
    return md
