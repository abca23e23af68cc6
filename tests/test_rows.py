"""History and Instances rows: every event type round-trips, column types are the Edm types .NET reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
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
    TimerFiredEvent,
    TraceContext,
)
from taskhub.format.rows import (
    HISTORY_BATCH_MAX_BYTES,
    HISTORY_BATCH_MAX_EVENTS,
    INSTANCE_COLUMNS,
    MAX_PROPERTY_UTF16_BYTES,
    VARIABLE_SIZE_PROPERTIES,
    InstanceRow,
    estimated_row_size,
    event_to_row,
    row_to_event,
    sentinel_row,
    split_history_batches,
    utf16_size,
)
from taskhub.format.timefmt import NetDateTime
from tests.test_messages import populated_event

T = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
EDM_TYPES = {"str": str, "int": int, "bool": bool, "datetime": datetime, "event_type": str, "status": str}


def assert_no_type_keys(value: Any) -> None:
    if isinstance(value, dict):
        assert "$type" not in value
        for item in value.values():
            assert_no_type_keys(item)
    elif isinstance(value, list):
        for item in value:
            assert_no_type_keys(item)


@pytest.mark.parametrize("cls", list(EVENT_CLASSES.values()), ids=lambda c: c.__name__)
def test_every_event_type_round_trips_through_a_row(cls: type[HistoryEvent]) -> None:
    event = populated_event(cls)
    row = event_to_row(event, instance_id="inst/1#x", sequence=10, execution_id="e1")
    assert row["PartitionKey"] == "inst^01^2x"
    assert row["RowKey"] == "000000000000000A"
    assert row["ExecutionId"] == "e1"
    assert row["EventType"] == cls.EVENT_TYPE.name
    assert "_Timestamp" in row and "Timestamp" not in row
    for _attr, wire, kind in cls.WIRE:
        value = row["_Timestamp" if wire == "Timestamp" else wire]
        expected_type = EDM_TYPES.get(kind, str)
        assert isinstance(value, expected_type), wire
        assert expected_type is bool or not isinstance(value, bool), wire
        if kind not in EDM_TYPES:
            assert_no_type_keys(json.loads(str(value)))
    assert row_to_event(row) == event


@pytest.mark.parametrize("cls", list(EVENT_CLASSES.values()), ids=lambda c: c.__name__)
def test_default_members_write_null_objects_and_omit_null_scalars(cls: type[HistoryEvent]) -> None:
    event = cls(timestamp=T)
    row = event_to_row(event, instance_id="i", sequence=0, execution_id="e")
    assert None not in row.values()
    for attr, wire, kind in cls.WIRE:
        if kind not in EDM_TYPES:
            assert row[wire] == "null", wire
        elif getattr(event, attr) is None:
            assert wire not in row
    assert row_to_event(row) == event


def test_nested_objects_are_plain_json_in_declared_order() -> None:
    started = ExecutionStartedEvent(
        orchestration_instance=OrchestrationInstance("x", "y"),
        parent_instance=ParentInstance("Parent", OrchestrationInstance("p", "e"), 0, ""),
        parent_trace_context=TraceContext("00-a-b-01", None, "id", "b", "2024-01-01T00:00:00.1234567+00:00"),
        tags={"k": "v"},
        scheduled_start_time=NetDateTime(2024, 5, 2, tzinfo=UTC, hundred_ns=1),
        generation=2,
    )
    row = event_to_row(started, instance_id="x", sequence=1, execution_id="y")
    assert row["OrchestrationInstance"] == '{"InstanceId":"x","ExecutionId":"y"}'
    assert row["ParentInstance"] == (
        '{"Name":"Parent","OrchestrationInstance":{"InstanceId":"p","ExecutionId":"e"},"TaskScheduleId":0,"Version":""}'
    )
    assert row["ParentTraceContext"] == (
        '{"TraceParent":"00-a-b-01","TraceState":null,"Id":"id","SpanId":"b",'
        '"ActivityStartTime":"2024-01-01T00:00:00.1234567+00:00"}'
    )
    assert row["Tags"] == '{"k":"v"}'
    assert row["Generation"] == 2 and row["ScheduledStartTime"].hundred_ns == 1
    failed = ExecutionCompletedEvent(
        orchestration_status=OrchestrationStatus.FAILED,
        failure_details=FailureDetails("System.Exception", "boom", "...", None, False, None),
    )
    row = event_to_row(failed, instance_id="x", sequence=2, execution_id="y")
    assert row["OrchestrationStatus"] == "Failed"
    assert row["FailureDetails"] == (
        '{"ErrorType":"System.Exception","ErrorMessage":"boom","StackTrace":"...",'
        '"InnerFailure":null,"IsNonRetriable":false,"Properties":null}'
    )


def test_reader_is_tolerant_of_missing_null_and_extra_columns() -> None:
    row = {
        "PartitionKey": "i",
        "RowKey": "0000000000000003",
        "Timestamp": T,
        "etag": 'W/"x"',
        "ExecutionId": "e",
        "EventType": "ExecutionStarted",
        "EventId": -1,
        "ParentInstance": "null",
        "Tags": "",
        "ParentTraceContext": None,
        "Input": "",
        "InputBlobName": "i/history-0000000000000003-ExecutionStarted-0000ABCD-Input.json.gz",
        "SomethingNew": 5,
        "_Timestamp": "2024-05-01T12:00:00.1234567Z",
    }
    event = row_to_event(row)
    assert isinstance(event, ExecutionStartedEvent)
    assert event.parent_instance is None and event.tags is None and event.parent_trace_context is None
    assert event.orchestration_instance is None and event.name is None and event.input == ""
    assert event.generation == 0 and event.is_played is False
    assert event.timestamp == NetDateTime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC, hundred_ns=7)


class ServiceDatetime(datetime):
    """Stands in for azure-data-tables' TablesEntityDatetime, which keeps the service's text."""

    tables_service_value = "2024-05-01T12:00:00.1234567Z"


def test_datetime_columns_accept_sdk_values_and_naive_utc() -> None:
    sdk_value = ServiceDatetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    event = row_to_event({"EventType": "TimerFired", "FireAt": sdk_value, "_Timestamp": datetime(2024, 5, 1)})
    assert isinstance(event, TimerFiredEvent)
    assert event.fire_at is not None and event.fire_at.hundred_ns == 7  # type: ignore[attr-defined]
    assert event.timestamp == T.replace(hour=0)
    tokyo = timezone(timedelta(hours=9))
    row = event_to_row(
        TimerFiredEvent(fire_at=datetime(2024, 5, 1, 21, tzinfo=tokyo), timestamp=T),
        instance_id="i",
        sequence=0,
        execution_id="e",
    )
    assert row["FireAt"] == T.replace(hour=12) and row["FireAt"].utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {"PartitionKey": "i", "RowKey": "0000000000000001", "EventType": "Bogus"},
            "unknown EventType 'Bogus'",
        ),
        ({"PartitionKey": "i", "RowKey": "0000000000000001", "EventType": 5}, "unknown EventType 5"),
        (
            {"PartitionKey": "i", "RowKey": "0000000000000001", "EventType": "ExecutionFailed"},
            "unknown EventType",
        ),
        (
            {"PartitionKey": "i", "RowKey": "sentinel", "IsCheckpointComplete": True},
            "has no EventType column",
        ),
        ({"EventType": "TaskCompleted", "EventId": "5"}, "column EventId: expected an Int32, got str '5'"),
        ({"EventType": "TaskCompleted", "IsPlayed": "yes"}, "column IsPlayed: expected a Boolean"),
        ({"EventType": "TaskFailed", "FailureDetails": "{oops"}, "column FailureDetails is not valid JSON"),
        (
            {"EventType": "TaskFailed", "FailureDetails": "[1]"},
            "column FailureDetails: expected a JSON object",
        ),
        (
            {"EventType": "ExecutionCompleted", "OrchestrationStatus": "Done"},
            "unknown OrchestrationStatus 'Done'",
        ),
        (
            {"EventType": "TimerFired", "FireAt": "tomorrow"},
            "column FireAt: not a .NET DateTime text: 'tomorrow'",
        ),
    ],
)
def test_bad_rows_raise_one_line_format_errors(row: dict[str, Any], expected: str) -> None:
    with pytest.raises(FormatError) as info:
        row_to_event(row)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_writer_rejects_values_dotnet_cannot_read() -> None:
    with pytest.raises(ValueError, match=r"Edm\.Int32"):
        event_to_row(TaskCompletedEvent(event_id=2**31), instance_id="i", sequence=0, execution_id="e")
    with pytest.raises(ValueError, match="naive"):
        event_to_row(
            TaskCompletedEvent(timestamp=datetime(2024, 1, 1)), instance_id="i", sequence=0, execution_id="e"
        )


def test_sentinel_row() -> None:
    assert sentinel_row("a/b", "e1", complete=False, now=T) == {
        "PartitionKey": "a^0b",
        "RowKey": "sentinel",
        "ExecutionId": "e1",
        "IsCheckpointComplete": False,
    }
    done = sentinel_row("a/b", "e1", complete=True, now=T)
    assert done["IsCheckpointComplete"] is True and done["CheckpointCompletedTimestamp"] == T


def test_instance_row_round_trip_and_column_selection() -> None:
    inst = InstanceRow(
        instance_id="a/b",
        execution_id="e1",
        name="Hello",
        version="",
        input='"x"',
        output=None,
        created_time=T,
        last_updated_time=T,
        runtime_status=OrchestrationStatus.RUNNING,
        generation=1,
        tags={"k": "v"},
        task_hub_name="MyHub",
        blob_names={"InputBlobName": "a^0b/history--Input-00000001-Input.json.gz"},
    )
    row = inst.to_row()
    assert row["PartitionKey"] == "a^0b" and row["RowKey"] == ""
    assert row["RuntimeStatus"] == "Running" and row["CustomStatus"] == "null" and row["Tags"] == '{"k":"v"}'
    assert "Output" not in row and "CompletedTime" not in row and None not in row.values()
    assert type(row["Generation"]) is int
    assert InstanceRow.from_row(row) == inst
    merge = inst.to_row(columns=("CustomStatus", "RuntimeStatus", "Tags"))
    assert merge == {
        "PartitionKey": "a^0b",
        "RowKey": "",
        "CustomStatus": "null",
        "RuntimeStatus": "Running",
        "Tags": '{"k":"v"}',
    }
    with pytest.raises(ValueError, match="not Instances columns"):
        inst.to_row(columns=("Bogus",))
    assert INSTANCE_COLUMNS[:2] == ("ExecutionId", "Name")


def test_instance_row_reader_defaults_etag_and_bad_status() -> None:
    class Row(dict[str, Any]):
        etag = "W/\"datetime'1'\""

    inst = InstanceRow.from_row(Row(PartitionKey="i", RowKey="", Tags="null"))
    assert inst == InstanceRow("i")
    assert (inst.custom_status, inst.generation, inst.tags, inst.runtime_status) == ("null", 0, None, None)
    assert inst.etag == "W/\"datetime'1'\""
    with pytest.raises(FormatError, match="column RuntimeStatus: unknown OrchestrationStatus 'Done'"):
        InstanceRow.from_row({"PartitionKey": "i", "RuntimeStatus": "Done"})
    with pytest.raises(FormatError, match="no PartitionKey"):
        InstanceRow.from_row({"RowKey": ""})


def test_sizes_and_batches() -> None:
    assert VARIABLE_SIZE_PROPERTIES[-1] == "Tags" and MAX_PROPERTY_UTF16_BYTES == 61440
    assert (utf16_size("abc"), utf16_size("é"), utf16_size("😀"), utf16_size("")) == (6, 2, 4, 0)
    assert estimated_row_size({"Input": "ab", "Result": "c", "Other": "x" * 100, "EventId": 1}) == 1024 + 6
    small = [{"RowKey": str(i)} for i in range(250)]
    assert [len(b) for b in split_history_batches(small)] == [99, 99, 52]
    assert HISTORY_BATCH_MAX_EVENTS == 99 and split_history_batches([]) == []
    big = [{"Input": "x" * 700_000} for _ in range(5)]  # 1.4 MB each: the third crosses 3 MiB
    assert HISTORY_BATCH_MAX_BYTES == 3 * 1024 * 1024
    assert [len(b) for b in split_history_batches(big)] == [3, 2]
    assert [len(b) for b in split_history_batches([{"Input": "x" * 2_000_000}, {}])] == [1, 1]
