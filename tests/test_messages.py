"""Queue message codec: every event type round-trips, the JSON has .NET's shape, bad bodies say why."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest

from taskhub.errors import FormatError
from taskhub.format.history import (
    EVENT_CLASSES,
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    FailureDetails,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    ParentInstance,
    TaskCompletedEvent,
    TaskScheduledEvent,
    TraceContext,
)
from taskhub.format.messages import (
    MAX_QUEUE_MESSAGE_BYTES,
    ExecutionContext,
    MessageData,
    NetDict,
    TaskMessage,
    decode_message,
    dumps,
    encode_base64,
    encode_message,
    event_from_json_obj,
    event_to_json_obj,
    new_activity_id,
    next_sequence_number,
)
from taskhub.format.timefmt import NetDateTime

DICT_TYPE = (
    "System.Collections.Generic.Dictionary`2[[System.String, System.Private.CoreLib],"
    "[System.String, System.Private.CoreLib]]"
)

# One sample value per member kind of history.WIRE; str values exercise Newtonsoft's escaping.
SAMPLES: dict[str, Callable[[str], Any]] = {
    "str": lambda wire: f'{wire}: "välue" \\ ✓ \u2028 \x01',
    "int": lambda wire: len(wire) + 100,
    "bool": lambda wire: True,
    "datetime": lambda wire: NetDateTime(2024, 5, 1, 12, 0, len(wire), 123456, tzinfo=UTC, hundred_ns=7),
    "status": lambda wire: OrchestrationStatus.FAILED,
    "instance": lambda wire: OrchestrationInstance("inst/1", "exec1"),
    "parent": lambda wire: ParentInstance("Parent", OrchestrationInstance("p", "pe"), 3, "1.0"),
    "failure": lambda wire: FailureDetails(
        "System.InvalidOperationException",
        "outer",
        "at Outer()",
        FailureDetails("System.Exception", "inner", None, None, True, None),
        False,
        {"code": 7, "nested": {"a": [1, "b", None]}, "none": None},
    ),
    "trace": lambda wire: TraceContext(
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "k=v",
        "|0af7651916cd43dd8448eb211c80319c.b7ad6b7169203331.",
        "b7ad6b7169203331",
        "2024-01-01T00:00:00.1234567+00:00",
    ),
    "tags": lambda wire: {"env": "prod", "ключ": "значение"},
    "json": lambda wire: {"Name": "x", "Items": [1, 2.5, None, True, {"k": "v"}]},
}


def populated_event(cls: type[HistoryEvent]) -> HistoryEvent:
    """An instance of ``cls`` with every wire member set to a non-default value."""
    return cls(**{attr: SAMPLES[kind](wire) for attr, wire, kind in cls.WIRE if kind != "event_type"})


def message_for(event: HistoryEvent) -> MessageData:
    return MessageData(
        TaskMessage(event, OrchestrationInstance("inst1", "e1"), 0, ExecutionContext({"a": "b"})),
        activity_id="d96bfaf1-e29d-4f65-8e64-502d6112f967",
        sequence_number=5,
        episode=2,
        sender=OrchestrationInstance("inst1", "e1"),
    )


def walk_objects(value: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(value, dict):
        found.append((path, value))
        for key, item in value.items():
            found += walk_objects(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += walk_objects(item, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("cls", list(EVENT_CLASSES.values()), ids=lambda c: c.__name__)
def test_every_event_type_round_trips_fully_populated(cls: type[HistoryEvent]) -> None:
    md = message_for(populated_event(cls))
    text = encode_message(md)
    back = decode_message(text)
    assert type(back.task_message.event) is cls  # type: ignore[union-attr]
    assert back == md
    assert encode_message(back) == text
    assert event_from_json_obj(event_to_json_obj(md.task_message.event)) == md.task_message.event  # type: ignore[union-attr]


@pytest.mark.parametrize("cls", list(EVENT_CLASSES.values()), ids=lambda c: c.__name__)
def test_every_event_type_round_trips_with_default_members(cls: type[HistoryEvent]) -> None:
    event = cls()
    md = MessageData(TaskMessage(event, OrchestrationInstance("i", None)), activity_id="x", sequence_number=1)
    back = decode_message(encode_message(md))
    assert back == md
    assert back.task_message is not None and back.task_message.event == event


@pytest.mark.parametrize("cls", list(EVENT_CLASSES.values()), ids=lambda c: c.__name__)
def test_event_members_follow_the_wire_order_after_type(cls: type[HistoryEvent]) -> None:
    obj = event_to_json_obj(populated_event(cls))
    assert list(obj) == ["$type", *(wire for _, wire, _ in cls.WIRE)]
    assert obj["$type"] == f"DurableTask.Core.History.{cls.__name__}"
    assert obj["EventType"] == int(cls.EVENT_TYPE)


def test_type_is_first_on_every_typed_object_and_absent_where_dotnet_omits_it() -> None:
    event = populated_event(ExecutionStartedEvent)
    md = message_for(event)
    obj = json.loads(encode_message(md))
    for path, node in walk_objects(obj):
        if "$type" in node:
            assert next(iter(node)) == "$type", path
    ev = obj["TaskMessage"]["Event"]
    assert obj["$type"] == "DurableTask.AzureStorage.MessageData"
    assert obj["TaskMessage"]["$type"] == "DurableTask.Core.TaskMessage"
    assert obj["TaskMessage"]["OrchestrationInstance"]["$type"] == "DurableTask.Core.OrchestrationInstance"
    assert obj["TaskMessage"]["OrchestrationExecutionContext"] == {
        "$type": "DurableTask.Core.OrchestrationExecutionContext",
        "OrchestrationTags": {"a": "b"},  # a new dictionary is written without $type (project choice)
    }
    assert ev["OrchestrationInstance"]["$type"] == "DurableTask.Core.OrchestrationInstance"
    assert ev["ParentInstance"]["$type"] == "DurableTask.Core.ParentInstance"
    assert ev["ParentInstance"]["OrchestrationInstance"]["$type"] == "DurableTask.Core.OrchestrationInstance"
    assert ev["ParentTraceContext"]["$type"] == "DurableTask.Core.Tracing.DistributedTraceContext"
    assert "$type" not in ev["Tags"]
    assert obj["Sender"] == {"InstanceId": "inst1", "ExecutionId": "e1"}
    failed = json.loads(encode_message(message_for(populated_event(ExecutionCompletedEvent))))
    details = failed["TaskMessage"]["Event"]["FailureDetails"]
    assert list(details) == [
        "$type",
        "ErrorType",
        "ErrorMessage",
        "StackTrace",
        "InnerFailure",
        "IsNonRetriable",
        "Properties",
    ]
    assert details["InnerFailure"]["$type"] == "DurableTask.Core.FailureDetails"
    assert "$type" not in details["Properties"]


def test_enums_are_integers_and_payloads_stay_json_text() -> None:
    event = ExecutionCompletedEvent(
        event_id=3, orchestration_status=OrchestrationStatus.FAILED, result='{"a":[1]}'
    )
    obj = json.loads(encode_message(message_for(event)))["TaskMessage"]["Event"]
    assert obj["EventType"] == 1
    assert obj["OrchestrationStatus"] == 3
    assert obj["Result"] == '{"a":[1]}'


def test_text_is_compact_with_newtonsoft_escaping() -> None:
    event = TaskCompletedEvent(
        result='"é ✓ \u2028 \u2029 \u0085 \x01 \t"', timestamp=NetDateTime(2024, 1, 1, tzinfo=UTC)
    )
    text = encode_message(message_for(event))
    assert '"Result":"\\"é ✓ \\u2028 \\u2029 \\u0085 \\u0001 \\t\\""' in text
    assert "\u2028" not in text and "\u0085" not in text
    assert text == dumps(json.loads(text))
    assert '"Timestamp":"2024-01-01T00:00:00Z"' in text
    assert ": " not in text.replace('": "', "") and not re.search(r"[,{]\s", text)


def test_episode_and_sender_are_omitted_when_none() -> None:
    md = MessageData(TaskMessage(TaskCompletedEvent(), OrchestrationInstance("i", "e")), activity_id="a")
    obj = json.loads(encode_message(md))
    assert list(obj) == [
        "$type",
        "ActivityId",
        "TaskMessage",
        "CompressedBlobName",
        "SequenceNumber",
        "SerializableTraceContext",
    ]
    md.episode, md.sender = -1, OrchestrationInstance("", "")
    obj = json.loads(encode_message(md))
    assert obj["Episode"] == -1 and obj["Sender"] == {"InstanceId": "", "ExecutionId": ""}
    assert list(obj)[4:7] == ["SequenceNumber", "Episode", "Sender"]


def test_dictionary_type_is_kept_only_when_it_was_read() -> None:
    raw = {
        "$type": "DurableTask.Core.History.TaskScheduledEvent",
        "EventType": 4,
        "Name": "A",
        "Tags": {"$type": DICT_TYPE, "k": "v"},
    }
    event = event_from_json_obj(raw)
    assert isinstance(event, TaskScheduledEvent) and event.tags == {"k": "v"}
    assert isinstance(event.tags, NetDict) and event.tags.dotnet_type == DICT_TYPE
    assert list(event_to_json_obj(event)["Tags"]) == ["$type", "k"]
    assert event_to_json_obj(event, typed=False)["Tags"] == {"k": "v"}
    event.tags = {"k": "v"}
    assert event_to_json_obj(event)["Tags"] == {"k": "v"}
    context = ExecutionContext({"x": "y"}, tags_type=DICT_TYPE)
    md = MessageData(TaskMessage(TaskScheduledEvent(), OrchestrationInstance("i", "e"), 0, context))
    tags = json.loads(encode_message(md))["TaskMessage"]["OrchestrationExecutionContext"]["OrchestrationTags"]
    assert list(tags.items()) == [("$type", DICT_TYPE), ("x", "y")]
    back = decode_message(encode_message(md)).task_message
    assert back is not None and back.orchestration_execution_context is not None
    assert back.orchestration_execution_context.tags_type == DICT_TYPE


def test_type_wins_over_event_type_and_event_type_alone_picks_the_class() -> None:
    both = {"$type": "DurableTask.Core.History.TaskCompletedEvent", "EventType": 4, "TaskScheduledId": 1}
    assert type(event_from_json_obj(both)) is TaskCompletedEvent
    assert type(event_from_json_obj({"EventType": 5, "TaskScheduledId": 1})) is TaskCompletedEvent
    assert type(event_from_json_obj({"EventType": "TaskCompleted"})) is TaskCompletedEvent
    unknown_type = {"$type": "DurableTask.Core.History.FutureEvent", "EventType": 5}
    assert type(event_from_json_obj(unknown_type)) is TaskCompletedEvent


def test_missing_members_get_defaults_and_unknown_members_are_ignored() -> None:
    body = json.dumps(
        {
            "ActivityId": "a",
            "Future": [1],
            "TaskMessage": {
                "Event": {"EventType": 5, "TaskScheduledId": 4, "NewMember": {"x": 1}},
                "OrchestrationInstance": {"InstanceId": "i"},
            },
        }
    )
    md = decode_message(body)
    assert md.task_message is not None
    event = md.task_message.event
    assert isinstance(event, TaskCompletedEvent)
    assert (event.task_scheduled_id, event.result, event.event_id, event.is_played) == (4, None, -1, False)
    assert md.task_message.orchestration_instance == OrchestrationInstance("i", None)
    assert md.episode is None and md.sender is None and md.compressed_blob_name is None


def test_changed_member_that_was_absent_is_written_again() -> None:
    body = (
        '{"$type":"DurableTask.Core.History.TaskScheduledEvent","EventType":4,"Name":"A","Version":"",'
        '"Input":"1","EventId":2,"IsPlayed":false,"Timestamp":"2023-04-05T03:31:23.6268922Z"}'
    )
    event = event_from_json_obj(json.loads(body))
    assert dumps(event_to_json_obj(event)) == body
    assert isinstance(event, TaskScheduledEvent)
    event.tags = {"k": "v"}
    obj = event_to_json_obj(event)
    assert obj["Tags"] == {"k": "v"} and "ParentTraceContext" not in obj
    assert list(obj)[4:7] == ["Input", "Tags", "EventId"]


def test_base64_bodies_decode_like_raw_ones() -> None:
    text = encode_message(message_for(populated_event(ExecutionStartedEvent)))
    raw = decode_message(text)
    assert decode_message(encode_base64(text)) == raw
    assert decode_message(encode_base64(text).encode("ascii")) == raw
    assert decode_message(text.encode("utf-8")) == raw
    assert decode_message("\ufeff" + text) == raw


BAD_BODIES = [
    ("hello world!", "queue message is not JSON or Base64-encoded JSON: 'hello world!'"),
    ("", "queue message is not JSON or Base64-encoded JSON: ''"),
    ("[1, 2]", "not JSON or Base64-encoded JSON"),
    ("x" * 100, "not JSON or Base64-encoded JSON: '" + "x" * 60 + "'"),
    (encode_base64("hello"), "queue message is Base64 but the decoded text is not JSON: 'hello'"),
    (encode_base64('{"a": '), "queue message (Base64-decoded) is not valid JSON"),
    ('{"a": ', "queue message is not valid JSON"),
    (b"\xff\xfe{", "queue message is not UTF-8 text"),
    ('{"ActivityId":"x"}', "queue message JSON has no TaskMessage.Event"),
    ('{"TaskMessage":null}', "queue message JSON has no TaskMessage.Event"),
    ('{"TaskMessage":{"OrchestrationInstance":{}}}', "queue message JSON has no TaskMessage.Event"),
    ('{"TaskMessage":{"Event":{"EventType":99}}}', "unknown EventType 99"),
    ('{"TaskMessage":{"Event":{"EventType":2}}}', "EventType 2 (ExecutionFailed) has no event class"),
    ('{"TaskMessage":{"Event":{"EventType":"Nope"}}}', "unknown EventType 'Nope'"),
    ('{"TaskMessage":{"Event":{"$type":"X.Y"}}}', "unknown event $type 'X.Y' and no EventType"),
    ('{"TaskMessage":{"Event":{}}}', "the event has neither $type nor EventType"),
    (
        '{"TaskMessage":{"Event":{"EventType":5,"TaskScheduledId":"0"},"OrchestrationInstance":{}}}',
        "TaskMessage.Event.TaskScheduledId: expected an integer, got '0'",
    ),
    (
        '{"TaskMessage":{"Event":{"EventType":5,"Timestamp":"soon"},"OrchestrationInstance":{}}}',
        "TaskMessage.Event.Timestamp: not a .NET DateTime text: 'soon'",
    ),
    (
        '{"TaskMessage":{"Event":{"EventType":1,"OrchestrationStatus":42},"OrchestrationInstance":{}}}',
        "unknown OrchestrationStatus 42",
    ),
    ('{"TaskMessage":{"Event":{"EventType":5}}}', "TaskMessage: missing OrchestrationInstance"),
    (
        '{"TaskMessage":{"Event":{"EventType":5},"OrchestrationInstance":[]}}',
        "expected a JSON object, got []",
    ),
]


@pytest.mark.parametrize(("body", "expected"), BAD_BODIES)
def test_bad_bodies_raise_one_line_format_errors(body: str | bytes, expected: str) -> None:
    with pytest.raises(FormatError) as info:
        decode_message(body)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_ids_sequence_numbers_and_limits() -> None:
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", new_activity_id())
    assert MAX_QUEUE_MESSAGE_BYTES == 46080
    first = next_sequence_number()
    seen: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        got = [next_sequence_number() for _ in range(500)]
        with lock:
            seen.extend(got)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(first + 1, first + 1 + 4000))
    a, b = MessageData(), MessageData()
    assert a.activity_id != b.activity_id and b.sequence_number > a.sequence_number > 0
