"""The format check itself: it passes on what the runtime wrote, and fails on each kind of violation."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from azure.data.tables import EdmType, EntityProperty, TableClient, UpdateMode
from azure.storage.queue import QueueClient

from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from tests.e2e.conftest import E2E
from tests.format_check import check_hub_format, read_history_rows, read_instance_rows

app = App()


@app.activity
def hello(ctx: ActivityContext, name: str) -> str:
    return f"Hello {name}!"


@app.orchestrator
def greet(ctx: OrchestrationContext, name: str):  # type: ignore[no-untyped-def]
    return (yield ctx.call_activity(hello, input=name))


Mutation = Callable[[dict[str, Any]], None]


def _set(column: str, value: Any) -> Mutation:
    return lambda row: row.__setitem__(column, value)


HISTORY_MUTATIONS: list[tuple[str, str, Mutation, str]] = [
    # (which row, test id, mutation, expected problem text)
    (
        "TaskScheduled",
        "int64 EventId",
        _set("EventId", EntityProperty(0, EdmType.INT64)),
        "column EventId should be int",
    ),
    ("TaskScheduled", "unknown EventType", _set("EventType", "TaskPlanned"), "is not a DTFx event name"),
    ("TaskScheduled", "string IsPlayed", _set("IsPlayed", "false"), "column IsPlayed should be bool"),
    ("TaskScheduled", "unexpected column", _set("Color", "red"), "unexpected column Color"),
    (
        "TaskCompleted",
        "dangling TaskScheduledId",
        _set("TaskScheduledId", 7),
        "does not refer to an earlier TaskScheduled",
    ),
    (
        "TaskCompleted",
        "string _Timestamp",
        _set("_Timestamp", "2024-01-01T00:00:00Z"),
        "_Timestamp should be datetime",
    ),
    (
        "ExecutionStarted",
        "$type in nested JSON",
        _set("OrchestrationInstance", '{"$type":"X","InstanceId":"a"}'),
        "carries $type",
    ),
    (
        "ExecutionStarted",
        "int64 Generation",
        _set("Generation", EntityProperty(0, EdmType.INT64)),
        "column Generation should be int",
    ),
    (
        "ExecutionCompleted",
        "status as a number",
        _set("OrchestrationStatus", "1"),
        "OrchestrationStatus should be status",
    ),
    ("sentinel", "no ExecutionId", lambda row: row.pop("ExecutionId"), "sentinel: no ExecutionId"),
    (
        "sentinel",
        "string IsCheckpointComplete",
        _set("IsCheckpointComplete", "true"),
        "IsCheckpointComplete should be bool",
    ),
]
INSTANCE_MUTATIONS: list[tuple[str, Mutation, str]] = [
    (
        "status disagrees with history",
        _set("RuntimeStatus", "Running"),
        "status Running but the history ended",
    ),
    ("unknown status", _set("RuntimeStatus", "Done"), "RuntimeStatus should be status"),
    ("wrong hub name", _set("TaskHubName", "OtherHub"), "TaskHubName 'OtherHub'"),
    (
        "int64 Generation",
        _set("Generation", EntityProperty(0, EdmType.INT64)),
        "column Generation should be int",
    ),
    ("missing CustomStatus", lambda row: row.pop("CustomStatus"), "missing column CustomStatus"),
]


async def test_the_format_check_passes_on_a_real_hub_and_catches_every_violation(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(greet, input="Oslo")
    await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    await e2e.stop_workers()
    hub = e2e.client.service.hub
    report = await check_hub_format(hub)
    assert report.history_rows >= 9 and report.instances == 1

    conn = hub.settings.connection.connection_string
    assert conn is not None
    caught: list[str] = []
    with TableClient.from_connection_string(conn, hub.names.history_table) as history:
        rows = read_history_rows(hub)
        for which, label, mutate, expected in HISTORY_MUTATIONS:
            original = next(r for r in rows if r["RowKey"] == which or r.get("EventType") == which)
            changed = dict(original)
            mutate(changed)
            history.upsert_entity(changed, mode=UpdateMode.REPLACE)
            with pytest.raises(AssertionError) as err:
                await check_hub_format(hub)
            assert expected in str(err.value), f"{label}: {err.value}"
            caught.append(label)
            history.upsert_entity(original, mode=UpdateMode.REPLACE)
        gap = {
            **next(r for r in rows if r.get("EventType") == "OrchestratorCompleted"),
            "RowKey": f"{len(rows) + 3:016X}",
        }
        history.upsert_entity(gap)
        with pytest.raises(AssertionError, match="not contiguous"):
            await check_hub_format(hub)
        history.delete_entity(gap["PartitionKey"], gap["RowKey"])

    with TableClient.from_connection_string(conn, hub.names.instances_table) as instances:
        original = read_instance_rows(hub)[0]
        for label, mutate, expected in INSTANCE_MUTATIONS:
            changed = dict(original)
            mutate(changed)
            instances.upsert_entity(changed, mode=UpdateMode.REPLACE)
            with pytest.raises(AssertionError) as err:
                await check_hub_format(hub)
            assert expected in str(err.value), f"{label}: {err.value}"
            caught.append(label)
        instances.upsert_entity(original, mode=UpdateMode.REPLACE)

    good = json.dumps(
        {"$type": "DurableTask.AzureStorage.MessageData", "TaskMessage": None, "CompressedBlobName": "x"}
    )
    reordered = json.dumps({"ActivityId": "0", "$type": "DurableTask.AzureStorage.MessageData"})
    queue_name = hub.names.control_queue_for(iid)
    with QueueClient.from_connection_string(conn, queue_name) as queue:
        for body, expected in (
            (reordered, "is not the first property"),
            (base64.b64encode(good.encode()).decode(), "not raw UTF-8 JSON text"),
            ("{not json", "not JSON"),
        ):
            queue.send_message(body)
            with pytest.raises(AssertionError) as err:
                await check_hub_format(hub)
            assert expected in str(err.value)
            queue.clear_messages()

    assert len(caught) == len(HISTORY_MUTATIONS) + len(INSTANCE_MUTATIONS)
    await check_hub_format(hub)  # everything restored
