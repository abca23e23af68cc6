"""Golden samples from storage-format.md: real and expected .NET messages and the 9.1 history rows.

Each message in tests/golden/ must decode to the right classes and values and re-encode byte for byte.
3.7 is stored pretty-printed as in the spec; joining its stripped lines gives the real compact body.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from taskhub.format.history import (
    EventRaisedEvent,
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
    TaskCompletedEvent,
    TaskScheduledEvent,
    TimerFiredEvent,
)
from taskhub.format.messages import (
    MessageData,
    decode_message,
    dumps,
    encode_base64,
    encode_message,
    event_from_json_obj,
    event_to_json_obj,
    large_message_wrapper,
)
from taskhub.format.rows import InstanceRow, event_to_row, row_to_event, sentinel_row
from taskhub.format.timefmt import NetDateTime, format_datetime

GOLDEN = Path(__file__).parent / "golden"
DICT_TYPE = (
    "System.Collections.Generic.Dictionary`2[[System.String, System.Private.CoreLib],"
    "[System.String, System.Private.CoreLib]]"
)


def body(name: str) -> str:
    return "".join(line.strip() for line in (GOLDEN / name).read_text(encoding="utf-8").splitlines())


def check_3_7(md: MessageData) -> None:
    assert md.activity_id == "d96bfaf1-e29d-4f65-8e64-502d6112f967"
    assert (md.sequence_number, md.episode, md.compressed_blob_name) == (6, 3, None)
    assert md.sender == OrchestrationInstance(
        "f71ac761454f41468d9923ac39e9bdbc", "f6ac7180e1ac41498e8afe327ee18518"
    )
    tm = md.task_message
    assert tm is not None and tm.sequence_number == 0
    assert tm.orchestration_instance == md.sender
    assert tm.orchestration_execution_context is not None
    assert tm.orchestration_execution_context.tags == {}
    assert tm.orchestration_execution_context.tags_type == DICT_TYPE
    ev = tm.event
    assert isinstance(ev, TaskScheduledEvent)
    assert (ev.name, ev.version, ev.input, ev.event_id, ev.is_played) == (
        "TestFunction_Activity",
        "",
        '["London"]',
        2,
        False,
    )
    assert ev.tags is None and ev.parent_trace_context is None
    assert format_datetime(ev.timestamp) == "2023-04-05T03:31:23.6268922Z"


def check_3_8(md: MessageData) -> None:
    assert md.sequence_number == 1 and md.episode is None
    assert md.sender == OrchestrationInstance("", "")
    assert md.task_message is not None and md.task_message.orchestration_execution_context is None
    ev = md.task_message.event
    assert isinstance(ev, ExecutionStartedEvent)
    assert ev.orchestration_instance == OrchestrationInstance("inst1", "0f8fad5bd9cb469fa16570867728950e")
    assert md.task_message.orchestration_instance == ev.orchestration_instance
    assert (ev.name, ev.version, ev.input, ev.generation, ev.generate_new_trace) == (
        "HelloCities",
        "",
        '"Tokyo"',
        0,
        False,
    )
    assert ev.parent_instance is None and ev.tags is None and ev.scheduled_start_time is None
    assert ev.timestamp == NetDateTime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC, hundred_ns=7)


def check_9_2(md: MessageData) -> None:
    assert (md.sequence_number, md.episode) == (42, 1)
    assert md.task_message is not None
    ev = md.task_message.event
    assert isinstance(ev, TaskCompletedEvent)
    assert (ev.task_scheduled_id, ev.result, ev.event_id) == (0, '"Hello Tokyo!"', -1)
    assert ev.timestamp == datetime(2024, 5, 1, 12, 0, 1, 500000, tzinfo=UTC)


def check_9_3(md: MessageData) -> None:
    assert md.task_message is not None
    ev = md.task_message.event
    assert isinstance(ev, TimerFiredEvent)
    assert ev.timer_id == 1 and ev.fire_at == datetime(2024, 5, 2, tzinfo=UTC)


def check_9_4(md: MessageData) -> None:
    assert md.episode is None and md.sender == OrchestrationInstance("", "")
    assert md.task_message is not None
    assert md.task_message.orchestration_instance == OrchestrationInstance("inst1", None)
    ev = md.task_message.event
    assert isinstance(ev, EventRaisedEvent)
    assert (ev.name, ev.input, ev.parent_trace_context) == ("Approval", "true", None)


def check_3_6(md: MessageData) -> None:
    assert md.task_message is None and md.sequence_number == 0
    assert md.activity_id == "00000000-0000-0000-0000-000000000000"
    assert (
        md.compressed_blob_name == "inst1/message-3f2a8c1e9b7d4e6fa0c2b4d6e8f01234-ExecutionStarted.json.gz"
    )
    assert md.episode is None and md.sender is None
    assert md == large_message_wrapper(md.compressed_blob_name)


MESSAGES = {
    "message_3_7_work_item.json": check_3_7,
    "message_3_8_execution_started.json": check_3_8,
    "message_9_2_task_completed.json": check_9_2,
    "message_9_3_timer_fired.json": check_9_3,
    "message_9_4_event_raised.json": check_9_4,
    "message_3_6_large_wrapper.json": check_3_6,
}


@pytest.mark.parametrize("name", list(MESSAGES))
def test_golden_message_decodes_and_re_encodes_byte_for_byte(name: str) -> None:
    text = body(name)
    assert "\n" not in text and text.startswith('{"$type":"DurableTask.AzureStorage.MessageData"')
    md = decode_message(text)
    MESSAGES[name](md)
    assert encode_message(md) == text
    assert encode_message(decode_message(encode_base64(text))) == text


def test_large_message_wrapper_is_written_as_in_the_spec() -> None:
    name = "inst1/message-3f2a8c1e9b7d4e6fa0c2b4d6e8f01234-ExecutionStarted.json.gz"
    assert encode_message(large_message_wrapper(name)) == body("message_3_6_large_wrapper.json")


def test_2019_execution_started_fragment_keeps_its_member_order() -> None:
    text = body("event_3_7_execution_started_2019.json")
    fragment = json.loads(text)
    event = event_from_json_obj(fragment)
    assert isinstance(event, ExecutionStartedEvent)
    assert event.name == "DurableFunctionsOrchestratorJS" and event.input == "null" and event.tags is None
    assert event.orchestration_instance == OrchestrationInstance(
        "b2a1c0d9e8f74a6b9c5d4e3f2a1b0c9d", "0a1b2c3d4e5f46a7b8c9d0e1f2a3b4c5"
    )
    assert format_datetime(event.timestamp) == "2019-12-08T23:18:39.756132Z"
    written = event_to_json_obj(event)
    assert [k for k in written if k in fragment] == list(fragment)
    assert next(iter(written)) == "$type"
    assert dumps(event_to_json_obj(event, typed=False)) == text


# --- 9.1: the history of a one-activity orchestration (hub MyHub, instance inst1, execution e1) ---------

TIMES = [datetime(2024, 5, 1, 12, 0, i, tzinfo=UTC) for i in range(8)]
INST = OrchestrationInstance("inst1", "e1")


def episode_1() -> list[HistoryEvent]:
    return [
        OrchestratorStartedEvent(timestamp=TIMES[0]),
        ExecutionStartedEvent(
            orchestration_instance=INST,
            name="HelloCities",
            version="",
            input='"Tokyo"',
            is_played=True,
            timestamp=TIMES[1],
        ),
        TaskScheduledEvent(event_id=0, name="SayHello", version="", input='"Tokyo"', timestamp=TIMES[2]),
        OrchestratorCompletedEvent(timestamp=TIMES[3]),
    ]


def episode_2() -> list[HistoryEvent]:
    return [
        OrchestratorStartedEvent(timestamp=TIMES[4]),
        TaskCompletedEvent(task_scheduled_id=0, result='"Hello Tokyo!"', is_played=True, timestamp=TIMES[5]),
        ExecutionCompletedEvent(event_id=1, result='"Hello Tokyo!"', timestamp=TIMES[6]),
        OrchestratorCompletedEvent(timestamp=TIMES[7]),
    ]


def base(rk: int, event_type: str, event_id: int, played: bool) -> dict[str, Any]:
    return {
        "PartitionKey": "inst1",
        "RowKey": f"{rk:016X}",
        "EventType": event_type,
        "EventId": event_id,
        "IsPlayed": played,
        "_Timestamp": TIMES[rk],
        "ExecutionId": "e1",
    }


EXPECTED_ROWS = [
    base(0, "OrchestratorStarted", -1, False),
    base(1, "ExecutionStarted", -1, True)
    | {
        "OrchestrationInstance": '{"InstanceId":"inst1","ExecutionId":"e1"}',
        "ParentInstance": "null",
        "Name": "HelloCities",
        "Version": "",
        "Input": '"Tokyo"',
        "Tags": "null",
        "ParentTraceContext": "null",
        "Generation": 0,
        "GenerateNewTrace": False,
    },
    base(2, "TaskScheduled", 0, False)
    | {"Name": "SayHello", "Version": "", "Input": '"Tokyo"', "ParentTraceContext": "null", "Tags": "null"},
    base(3, "OrchestratorCompleted", -1, False),
    base(4, "OrchestratorStarted", -1, False),
    base(5, "TaskCompleted", -1, True) | {"TaskScheduledId": 0, "Result": '"Hello Tokyo!"'},
    base(6, "ExecutionCompleted", 1, False)
    | {"OrchestrationStatus": "Completed", "Result": '"Hello Tokyo!"', "FailureDetails": "null"},
    base(7, "OrchestratorCompleted", -1, False),
]


def edm_types(row: dict[str, Any]) -> dict[str, type]:
    return {k: datetime if isinstance(v, datetime) else type(v) for k, v in row.items()}


def test_9_1_history_rows_have_the_dotnet_columns_types_and_values() -> None:
    events = episode_1() + episode_2()
    rows = [event_to_row(e, instance_id="inst1", sequence=i, execution_id="e1") for i, e in enumerate(events)]
    assert [r["RowKey"] for r in rows] == [f"000000000000000{i}" for i in range(8)]
    for row, expected in zip(rows, EXPECTED_ROWS, strict=True):
        assert row == expected
        assert edm_types(row) == edm_types(expected), row["RowKey"]
        assert isinstance(row["_Timestamp"], datetime) and row["_Timestamp"].utcoffset() == timedelta(0)
    assert [row_to_event(r) for r in rows] == events


def test_9_1_sentinel_and_instances_rows() -> None:
    done = TIMES[3] + timedelta(milliseconds=5)
    assert sentinel_row("inst1", "e1", complete=True, now=done) == {
        "PartitionKey": "inst1",
        "RowKey": "sentinel",
        "ExecutionId": "e1",
        "IsCheckpointComplete": True,
        "CheckpointCompletedTimestamp": done,
    }
    after_1 = InstanceRow(
        "inst1",
        execution_id="e1",
        name="HelloCities",
        version="",
        input='"Tokyo"',
        created_time=TIMES[1],
        last_updated_time=TIMES[3],
        runtime_status=OrchestrationStatus.RUNNING,
        generation=0,
        task_hub_name="MyHub",
    ).to_row()
    expected_1 = {
        "PartitionKey": "inst1",
        "RowKey": "",
        "ExecutionId": "e1",
        "Name": "HelloCities",
        "Version": "",
        "Input": '"Tokyo"',
        "CustomStatus": "null",
        "CreatedTime": TIMES[1],
        "LastUpdatedTime": TIMES[3],
        "RuntimeStatus": "Running",
        "Generation": 0,
        "Tags": "null",
        "TaskHubName": "MyHub",
    }
    assert after_1 == expected_1 and edm_types(after_1) == edm_types(expected_1)
    merge_2 = InstanceRow(
        "inst1",
        execution_id="e1",
        output='"Hello Tokyo!"',
        last_updated_time=TIMES[7],
        completed_time=done,
        runtime_status=OrchestrationStatus.COMPLETED,
        task_hub_name="MyHub",
    ).to_row(
        columns=(
            "CustomStatus",
            "ExecutionId",
            "LastUpdatedTime",
            "TaskHubName",
            "RuntimeStatus",
            "CompletedTime",
            "Output",
        )
    )
    assert merge_2 == {
        "PartitionKey": "inst1",
        "RowKey": "",
        "ExecutionId": "e1",
        "Output": '"Hello Tokyo!"',
        "CustomStatus": "null",
        "LastUpdatedTime": TIMES[7],
        "CompletedTime": done,
        "RuntimeStatus": "Completed",
        "TaskHubName": "MyHub",
    }
    after_2 = InstanceRow.from_row(after_1 | merge_2)
    assert after_2.runtime_status is OrchestrationStatus.COMPLETED
    assert (after_2.output, after_2.completed_time, after_2.custom_status) == ('"Hello Tokyo!"', done, "null")
    assert (after_2.name, after_2.input, after_2.created_time, after_2.tags) == (
        "HelloCities",
        '"Tokyo"',
        TIMES[1],
        None,
    )
