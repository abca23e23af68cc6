"""``await check_hub_format(hub)``: everything a hub holds must look as DurableTask.AzureStorage writes it.

Run at the end of an end-to-end test (the e2e fixtures do it), it reads, with the plain synchronous
azure-data-tables / azure-storage-queue / azure-storage-blob clients (not the project's own codecs):

- every History row: escaped PartitionKey, RowKey ``X16`` or ``sentinel``, a known ``EventType``, the
  columns of that event type with their Edm types (Int32 comes back as a plain ``int``, Int64 would be
  an ``EntityProperty``), nested JSON columns without ``$type`` (or ``"null"``), ``ExecutionId`` on
  every row, contiguous RowKeys from 0, decision/completion ids that refer to each other
  (storage-format.md 4, 9.1);
- every Instances row: RowKey ``""``, the section-5 columns and types, ``TaskHubName``, and a status that
  agrees with the history (storage-format.md 5);
- every visible queue message: raw UTF-8 JSON, ``$type`` first, decodable by
  ``taskhub.format.messages.decode_message`` (storage-format.md 3);
- every large-message blob: a gzip'ed file under a name of the two documented shapes (1.5, 3.6, 4.4);
- the ``{Hub}Partitions`` table, when there is one (table partition manager, docs/partition-table.md):
  PartitionKey ``""``, one row per control queue named by RowKey, ``CurrentOwner``/``NextOwner``
  strings, ``OwnedSince``/``LastRenewal``/``ExpiresAt`` Edm.DateTime, ``IsDraining`` Edm.Boolean;
- versions where DTFx puts them: the Instances ``Version`` is the current execution's
  ``ExecutionStarted.Version`` (or, while Pending, its start message's); a sub-orchestration's
  ``ExecutionStarted.Version`` is its parent's ``SubOrchestrationInstanceCreated.Version``, and its
  ``ParentInstance.Version`` the parent's own version (storage-format.md 4, 5).

The schema below is written out from the spec on purpose, not derived from ``taskhub.format.history``: a
wrong schema there must fail here.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from taskhub.format.messages import decode_message
from taskhub.format.names import escape_partition_key, unescape_partition_key
from taskhub.hub.lifecycle import TaskHub
from tests.entity_format_check import check_entity_message, check_entity_tables

__all__ = [
    "check_hub_format",
    "check_partition_rows",
    "FormatReport",
    "read_history_rows",
    "read_instance_rows",
]

STATUSES = (
    "Running",
    "Completed",
    "ContinuedAsNew",
    "Failed",
    "Canceled",
    "Terminated",
    "Pending",
    "Suspended",
)

# column kinds: "str", "int" (Edm.Int32), "bool", "datetime", "json" (JSON object text or "null"),
# "status" (an OrchestrationStatus name)
BASE_COLUMNS = {
    "EventType": "str",
    "EventId": "int",
    "IsPlayed": "bool",
    "_Timestamp": "datetime",
    "ExecutionId": "str",
}
EVENT_COLUMNS: dict[str, dict[str, str]] = {
    "ExecutionStarted": {
        "OrchestrationInstance": "json",
        "ParentInstance": "json",
        "Name": "str",
        "Version": "str",
        "Input": "str",
        "Tags": "json",
        "Correlation": "str",
        "ParentTraceContext": "json",
        "ScheduledStartTime": "datetime",
        "Generation": "int",
        "GenerateNewTrace": "bool",
    },
    "ExecutionCompleted": {"OrchestrationStatus": "status", "Result": "str", "FailureDetails": "json"},
    "ExecutionTerminated": {"Input": "str"},
    "TaskScheduled": {
        "Name": "str",
        "Version": "str",
        "Input": "str",
        "ParentTraceContext": "json",
        "Tags": "json",
    },
    "TaskCompleted": {"TaskScheduledId": "int", "Result": "str"},
    "TaskFailed": {"TaskScheduledId": "int", "Reason": "str", "Details": "str", "FailureDetails": "json"},
    "SubOrchestrationInstanceCreated": {
        "Name": "str",
        "Version": "str",
        "InstanceId": "str",
        "Input": "str",
        "ClientSpanId": "str",
        "Tags": "json",
    },
    "SubOrchestrationInstanceCompleted": {"TaskScheduledId": "int", "Result": "str"},
    "SubOrchestrationInstanceFailed": {
        "TaskScheduledId": "int",
        "Reason": "str",
        "Details": "str",
        "FailureDetails": "json",
    },
    "TimerCreated": {"FireAt": "datetime"},
    "TimerFired": {"TimerId": "int", "FireAt": "datetime"},
    "OrchestratorStarted": {},
    "OrchestratorCompleted": {},
    "EventSent": {"InstanceId": "str", "Name": "str", "Input": "str"},
    "EventRaised": {"Name": "str", "Input": "str", "ParentTraceContext": "json"},
    "ContinueAsNew": {"OrchestrationStatus": "status", "Result": "str", "FailureDetails": "json"},
    "GenericEvent": {"Data": "str"},
    "HistoryState": {"State": "json"},
    "ExecutionSuspended": {"Reason": "str"},
    "ExecutionResumed": {"Reason": "str"},
    "ExecutionRewound": {
        "Reason": "str",
        "ParentExecutionId": "str",
        "InstanceId": "str",
        "ParentTraceContext": "json",
    },
}
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "ExecutionStarted": ("OrchestrationInstance", "Name"),
    "ExecutionCompleted": ("OrchestrationStatus",),
    "TaskScheduled": ("Name",),
    "TaskCompleted": ("TaskScheduledId",),
    "TaskFailed": ("TaskScheduledId",),
    "SubOrchestrationInstanceCreated": ("Name", "InstanceId"),
    "SubOrchestrationInstanceCompleted": ("TaskScheduledId",),
    "SubOrchestrationInstanceFailed": ("TaskScheduledId",),
    "TimerCreated": ("FireAt",),
    "TimerFired": ("TimerId", "FireAt"),
    "EventSent": ("InstanceId", "Name"),
    "EventRaised": ("Name",),
}
DECISIONS = (
    "TaskScheduled",
    "TimerCreated",
    "SubOrchestrationInstanceCreated",
    "EventSent",
    "ExecutionCompleted",
)
COMPLETIONS = {
    "TaskCompleted": ("TaskScheduledId", "TaskScheduled"),
    "TaskFailed": ("TaskScheduledId", "TaskScheduled"),
    "SubOrchestrationInstanceCompleted": ("TaskScheduledId", "SubOrchestrationInstanceCreated"),
    "SubOrchestrationInstanceFailed": ("TaskScheduledId", "SubOrchestrationInstanceCreated"),
    "TimerFired": ("TimerId", "TimerCreated"),
}
VARIABLE_SIZE = (
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
INSTANCE_COLUMNS = {
    "ExecutionId": "str",
    "Name": "str",
    "Version": "str",
    "Input": "str",
    "Output": "str",
    "CustomStatus": "str",
    "CreatedTime": "datetime",
    "LastUpdatedTime": "datetime",
    "CompletedTime": "datetime",
    "RuntimeStatus": "status",
    "ScheduledStartTime": "datetime",
    "Generation": "int",
    "Tags": "json",
    "TaskHubName": "str",
}
INSTANCE_REQUIRED = (
    "ExecutionId",
    "Name",
    "RuntimeStatus",
    "CreatedTime",
    "LastUpdatedTime",
    "TaskHubName",
    "CustomStatus",
)
ROW_KEY = re.compile(r"[0-9A-F]{16}")
MESSAGE_BLOB = re.compile(r".+/message-[0-9a-f]{32}-[A-Za-z]+\.json\.gz")
HISTORY_BLOB = re.compile(r".+/history-([0-9A-F]{16})?-[A-Za-z]+-[0-9A-F]{8}-[A-Za-z]+\.json\.gz")


@dataclass
class FormatReport:
    """What was checked (so a test can assert the check saw something)."""

    history_rows: int = 0
    instances: int = 0
    messages: int = 0
    blobs: int = 0
    partition_rows: int = 0
    problems: list[str] = field(default_factory=list)


# --- reading with the plain SDK clients ----------------------------------------------------------------


def _connection_string(hub: TaskHub) -> str:
    conn = hub.settings.tracking_connection or hub.settings.connection
    assert conn.connection_string, "the format check needs a connection string (Azurite)"
    return conn.connection_string


def read_history_rows(hub: TaskHub) -> list[dict[str, Any]]:
    """Every History row as the sync TableClient returns it (blocking)."""
    return _read_table(hub, hub.names.history_table)


def read_instance_rows(hub: TaskHub) -> list[dict[str, Any]]:
    """Every Instances row as the sync TableClient returns it (blocking)."""
    return _read_table(hub, hub.names.instances_table)


def _read_table(hub: TaskHub, table: str) -> list[dict[str, Any]]:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import TableClient

    with TableClient.from_connection_string(_connection_string(hub), table) as client:
        try:
            return [dict(e) for e in client.list_entities()]
        except ResourceNotFoundError:
            return []


def _peek_messages(hub: TaskHub) -> list[tuple[str, str]]:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.queue import QueueClient

    out: list[tuple[str, str]] = []
    for queue in [*hub.names.control_queues, hub.names.work_item_queue]:
        with QueueClient.from_connection_string(_connection_string(hub), queue) as client:
            try:
                out.extend((queue, m.content) for m in client.peek_messages(max_messages=32))
            except ResourceNotFoundError:
                continue
    return out


def _read_blobs(hub: TaskHub) -> list[tuple[str, bytes]]:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import ContainerClient

    with ContainerClient.from_connection_string(
        _connection_string(hub), hub.names.large_message_container
    ) as c:
        try:
            return [(b.name, c.download_blob(b.name).readall()) for b in c.list_blobs()]
        except ResourceNotFoundError:
            return []


# --- the checks --------------------------------------------------------------------------------------

PARTITION_COLUMNS = {
    "CurrentOwner": "str",
    "NextOwner": "str",
    "OwnedSince": "datetime",
    "LastRenewal": "datetime",
    "ExpiresAt": "datetime",
    "IsDraining": "bool",
}


def check_partition_rows(rows: list[dict[str, Any]], queues: list[str], problems: list[str]) -> None:
    """The Partitions table as DTFx's TablePartitionManager writes it (docs/partition-table.md 2)."""
    seen: list[str] = []
    for row in rows:
        where = f"Partitions row {row.get('RowKey')!r}"
        if row.get("PartitionKey") != "":
            problems.append(f"{where}: PartitionKey should be empty, got {row.get('PartitionKey')!r}")
        seen.append(str(row.get("RowKey")))
        _check_columns(row, PARTITION_COLUMNS, where, problems)
        if "IsDraining" not in row:
            problems.append(f"{where}: no IsDraining column")
        if row.get("CurrentOwner") and "ExpiresAt" not in row:
            problems.append(f"{where}: has a CurrentOwner but no ExpiresAt")
    if sorted(seen) != sorted(queues):
        problems.append(f"Partitions table: rows {sorted(seen)} but the control queues are {queues}")


def _kind_ok(kind: str, value: Any) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":  # Edm.Int32: the SDK gives a plain int (Int64 would be an EntityProperty)
        return isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "datetime":
        return isinstance(value, datetime) and value.tzinfo is not None
    if kind == "status":
        return isinstance(value, str) and value in STATUSES
    if kind == "json":
        return isinstance(value, str)
    raise AssertionError(kind)


def _has_type_key(value: Any) -> bool:
    if isinstance(value, dict):
        return "$type" in value or any(_has_type_key(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_type_key(v) for v in value)
    return False


def _check_json_column(value: str, where: str, problems: list[str]) -> Any:
    if value == "null":
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        problems.append(f"{where}: not JSON: {value[:80]!r}")
        return None
    if not isinstance(parsed, dict):
        problems.append(f"{where}: JSON is not an object: {value[:80]!r}")
    elif _has_type_key(parsed):
        problems.append(f"{where}: nested JSON carries $type: {value[:80]!r}")
    return parsed


def _check_columns(
    row: dict[str, Any], schema: dict[str, str], where: str, problems: list[str]
) -> dict[str, Any]:
    """Types of known columns; unknown columns are problems. Returns parsed JSON columns."""
    parsed: dict[str, Any] = {}
    for column, value in row.items():
        if column in ("PartitionKey", "RowKey"):
            continue
        if column.endswith("BlobName") and column[: -len("BlobName")] in VARIABLE_SIZE:
            if not isinstance(value, str) or not value:
                problems.append(f"{where}: {column} is not a blob name: {value!r}")
            elif row.get(column[: -len("BlobName")]) not in ("", None):
                problems.append(f"{where}: {column} is set but the column itself is not empty")
            continue
        kind = schema.get(column)
        if kind is None:
            problems.append(f"{where}: unexpected column {column}={value!r:.60}")
            continue
        if not _kind_ok(kind, value):
            problems.append(
                f"{where}: column {column} should be {kind}, got {type(value).__name__} {value!r:.60}"
            )
            continue
        if kind == "json":
            parsed[column] = _check_json_column(value, f"{where} column {column}", problems)
    return parsed


@dataclass
class _Execution:
    execution_id: str
    rows: list[dict[str, Any]]
    completed: dict[str, Any] | None = None


def _check_history_partition(
    pk: str, rows: list[dict[str, Any]], problems: list[str]
) -> tuple[_Execution | None, dict[str, Any] | None]:
    """Check one instance's History rows; returns its current execution and its sentinel."""
    where_pk = f"History PK {pk!r}"
    try:
        instance_id = unescape_partition_key(pk)
        if escape_partition_key(instance_id) != pk:
            problems.append(f"{where_pk}: not an escaped instance id")
    except ValueError as err:
        problems.append(f"{where_pk}: {err}")
        instance_id = pk
    sentinel = next((r for r in rows if r["RowKey"] == "sentinel"), None)
    events = sorted((r for r in rows if r["RowKey"] != "sentinel"), key=lambda r: r["RowKey"])
    for r in events:
        if not ROW_KEY.fullmatch(r["RowKey"]):
            problems.append(f"{where_pk}: RowKey {r['RowKey']!r} is neither X16 nor 'sentinel'")
    if [r["RowKey"] for r in events] != [f"{i:016X}" for i in range(len(events))]:
        problems.append(
            f"{where_pk}: RowKeys are not contiguous from 0: {[r['RowKey'] for r in events][:12]}"
        )
    if sentinel is None:
        problems.append(f"{where_pk}: no sentinel row")
        return None, None
    _check_columns(
        sentinel,
        {"ExecutionId": "str", "IsCheckpointComplete": "bool", "CheckpointCompletedTimestamp": "datetime"},
        f"{where_pk} sentinel",
        problems,
    )
    if not isinstance(sentinel.get("ExecutionId"), str):
        problems.append(f"{where_pk} sentinel: no ExecutionId")
    if sentinel.get("IsCheckpointComplete") is True and "CheckpointCompletedTimestamp" not in sentinel:
        problems.append(f"{where_pk} sentinel: complete without CheckpointCompletedTimestamp")

    for r in events:
        where = f"History {pk!r}/{r['RowKey']}"
        event_type = r.get("EventType")
        if event_type not in EVENT_COLUMNS:
            problems.append(f"{where}: EventType {event_type!r} is not a DTFx event name")
            continue
        if str(r.get("Reason") or "").startswith("Rewound: "):  # rewind rewrites rows in place (4.7)
            if event_type == "GenericEvent":
                continue  # the original event's columns stay
            r = {k: v for k, v in r.items() if k != "Reason"}
        for column in BASE_COLUMNS:
            if column not in r:
                problems.append(f"{where} ({event_type}): missing column {column}")
        for column in REQUIRED_COLUMNS.get(event_type, ()):
            if column not in r:
                problems.append(f"{where} ({event_type}): missing column {column}")
        parsed = _check_columns(
            r, {**BASE_COLUMNS, **EVENT_COLUMNS[event_type]}, f"{where} ({event_type})", problems
        )
        instance = parsed.get("OrchestrationInstance")
        if event_type == "ExecutionStarted" and isinstance(instance, dict):
            if instance.get("InstanceId") != instance_id:
                problems.append(
                    f"{where}: OrchestrationInstance.InstanceId {instance.get('InstanceId')!r} != {instance_id!r}"
                )
            if instance.get("ExecutionId") != r.get("ExecutionId"):
                problems.append(
                    f"{where}: OrchestrationInstance.ExecutionId differs from the row's ExecutionId"
                )
        details = parsed.get("FailureDetails")
        if isinstance(details, dict) and not {"ErrorType", "ErrorMessage"} <= set(details):
            problems.append(f"{where}: FailureDetails lacks ErrorType/ErrorMessage: {details}")
        event_id = r.get("EventId")
        if isinstance(event_id, int) and not isinstance(event_id, bool):
            if event_type in DECISIONS and event_id < 0:
                problems.append(
                    f"{where} ({event_type}): a decision event needs EventId >= 0, got {event_id}"
                )
            if event_type not in DECISIONS and event_id != -1:
                problems.append(f"{where} ({event_type}): EventId should be -1, got {event_id}")

    current_id = sentinel.get("ExecutionId")
    current = [r for r in events if r.get("ExecutionId") == current_id]
    if events and current != events[: len(current)]:
        problems.append(f"{where_pk}: the current execution's rows are not a prefix from RowKey 0")
    execution = _Execution(str(current_id), current)
    _check_execution(pk, execution, sentinel, problems)
    return execution, sentinel


def _check_execution(pk: str, ex: _Execution, sentinel: dict[str, Any], problems: list[str]) -> None:
    where = f"History {pk!r} execution {ex.execution_id}"
    types = [r.get("EventType") for r in ex.rows]
    if not ex.rows:
        problems.append(f"{where}: the sentinel names an execution without rows")
        return
    if types[:2] != ["OrchestratorStarted", "ExecutionStarted"]:
        problems.append(f"{where}: should start with OrchestratorStarted, ExecutionStarted; got {types[:3]}")
    if types.count("ExecutionStarted") != 1:
        problems.append(f"{where}: {types.count('ExecutionStarted')} ExecutionStarted events")
    if sentinel.get("IsCheckpointComplete") is True and types[-1] != "OrchestratorCompleted":
        problems.append(
            f"{where}: a completed checkpoint should end with OrchestratorCompleted, got {types[-1]}"
        )
    decided: dict[int, str] = {}
    answered: set[tuple[str, int]] = set()
    for r in ex.rows:
        t = r.get("EventType")
        if t in DECISIONS and t != "ExecutionCompleted":
            if r["EventId"] in decided:
                problems.append(f"{where}: EventId {r['EventId']} used by {decided[r['EventId']]} and {t}")
            decided[r["EventId"]] = str(t)
        if t in COMPLETIONS:
            column, expected = COMPLETIONS[str(t)]
            if decided.get(r.get(column, -99)) != expected:
                problems.append(
                    f"{where}: {t} {column}={r.get(column)} does not refer to an earlier {expected}"
                )
            if (expected, r.get(column, -99)) in answered:  # a duplicate must be dropped, not recorded
                problems.append(
                    f"{where}: {expected} {r.get(column)} is completed twice ({t} at {r['RowKey']})"
                )
            answered.add((expected, r.get(column, -99)))
    ends = [i for i, t in enumerate(types) if t == "ExecutionCompleted"]
    if len(ends) > 1:
        problems.append(f"{where}: {len(ends)} ExecutionCompleted events")
    if ends:
        ex.completed = ex.rows[ends[0]]
        if types[ends[0] + 1 :] != ["OrchestratorCompleted"]:
            problems.append(f"{where}: events after ExecutionCompleted: {types[ends[0] + 1 :]}")


def _last_suspension(ex: _Execution) -> str | None:
    state = None
    for r in ex.rows:
        if r.get("EventType") in ("ExecutionSuspended", "ExecutionResumed"):
            state = r["EventType"]
    return state


def _check_instance(
    row: dict[str, Any],
    hub_name: str,
    executions: dict[str, tuple[_Execution | None, dict[str, Any] | None]],
    problems: list[str],
) -> None:
    pk = row["PartitionKey"]
    where = f"Instances {pk!r}"
    if row["RowKey"] != "":
        problems.append(f"{where}: RowKey should be '', got {row['RowKey']!r}")
    try:
        if escape_partition_key(unescape_partition_key(pk)) != pk:
            problems.append(f"{where}: PartitionKey is not an escaped instance id")
    except ValueError as err:
        problems.append(f"{where}: {err}")
    for column in INSTANCE_REQUIRED:
        if column not in row:
            problems.append(f"{where}: missing column {column}")
    _check_columns(row, INSTANCE_COLUMNS, where, problems)
    if row.get("TaskHubName") != hub_name:
        problems.append(f"{where}: TaskHubName {row.get('TaskHubName')!r} != {hub_name!r}")
    custom = row.get("CustomStatus")
    if isinstance(custom, str) and custom != "null":
        try:
            json.loads(custom)
        except ValueError:
            problems.append(f"{where}: CustomStatus is not JSON text: {custom[:60]!r}")
    status = row.get("RuntimeStatus")
    execution, sentinel = executions.get(pk, (None, None))
    if execution is None or sentinel is None or sentinel.get("ExecutionId") != row.get("ExecutionId"):
        # no history of this execution yet: not started (or terminated before it started)
        if status not in ("Pending", "Terminated"):
            problems.append(
                f"{where}: status {status} but the History holds no rows of execution {row.get('ExecutionId')!r}"
            )
        return
    if execution.completed is not None:
        ended = execution.completed.get("OrchestrationStatus")
        if status != ended:
            problems.append(f"{where}: status {status} but the history ended the execution as {ended}")
        if "CompletedTime" not in row:
            problems.append(f"{where}: finished ({status}) without CompletedTime")
        if ended == "Completed" and "Output" in row and not str(row["Output"]).startswith("http"):
            result = execution.completed.get("Result")
            if result not in (None, "") and row["Output"] != result:
                problems.append(
                    f"{where}: Output {row['Output'][:60]!r} != the ExecutionCompleted Result {result[:60]!r}"
                )
        return
    expected = "Suspended" if _last_suspension(execution) == "ExecutionSuspended" else "Running"
    if status != expected:
        problems.append(f"{where}: status {status}, but the history of the running execution says {expected}")


def _check_message(queue: str, body: str, problems: list[str]) -> None:
    where = f"queue {queue} message {body[:60]!r}"
    if not body.startswith("{"):
        problems.append(f"{where}: not raw UTF-8 JSON text")
        return
    try:
        obj = json.loads(body)
    except ValueError:
        problems.append(f"{where}: not JSON")
        return
    if (
        not isinstance(obj, dict)
        or next(iter(obj), None) != "$type"
        or obj["$type"] != "DurableTask.AzureStorage.MessageData"
    ):
        problems.append(f"{where}: $type DurableTask.AzureStorage.MessageData is not the first property")
        return
    tm = obj.get("TaskMessage")
    if tm is not None:
        if next(iter(tm), None) != "$type" or tm["$type"] != "DurableTask.Core.TaskMessage":
            problems.append(f"{where}: TaskMessage $type missing or not first")
        event = tm.get("Event") or {}
        if next(iter(event), None) != "$type" or not str(event.get("$type", "")).startswith(
            "DurableTask.Core.History."
        ):
            problems.append(f"{where}: Event $type missing or not first")
        if not isinstance(event.get("EventType"), int):
            problems.append(f"{where}: EventType is not an integer")
    elif not obj.get("CompressedBlobName"):
        problems.append(f"{where}: neither TaskMessage nor CompressedBlobName")
    try:
        decode_message(body)
    except Exception as err:
        problems.append(f"{where}: decode_message failed: {err}")


def _check_blob(name: str, data: bytes, problems: list[str]) -> None:
    if not (MESSAGE_BLOB.fullmatch(name) or HISTORY_BLOB.fullmatch(name)):
        problems.append(f"blob {name!r}: not a message-... or history-... large-payload name")
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as err:
        problems.append(f"blob {name!r}: not gzip'ed UTF-8: {err}")
        return
    if MESSAGE_BLOB.fullmatch(name):
        try:
            md = decode_message(text)
        except Exception as err:
            problems.append(f"blob {name!r}: does not hold a MessageData: {err}")
            return
        if md.task_message is None:
            problems.append(f"blob {name!r}: holds a MessageData without TaskMessage")


def _version_of(row: dict[str, Any] | None) -> str:
    return str((row or {}).get("Version") or "")


def _check_versions(
    executions: dict[str, tuple[_Execution | None, dict[str, Any] | None]],
    instances: list[dict[str, Any]],
    messages: list[tuple[str, str]],
    problems: list[str],
) -> None:
    started = {
        pk: next((r for r in ex.rows if r.get("EventType") == "ExecutionStarted"), None)
        for pk, (ex, _) in executions.items()
        if ex is not None
    }
    starts: dict[tuple[str, str], dict[str, Any]] = {}  # (instance id, execution id) -> start message event
    for _, body in messages:
        try:
            event = ((json.loads(body).get("TaskMessage") or {}).get("Event")) or {}
        except (ValueError, AttributeError):
            continue
        instance = event.get("OrchestrationInstance") or {}
        if event.get("EventType") == 0 and isinstance(instance, dict):
            starts[(str(instance.get("InstanceId")), str(instance.get("ExecutionId")))] = event
    for row in instances:
        pk, where = row["PartitionKey"], f"Instances {row['PartitionKey']!r}"
        execution, sentinel = executions.get(pk, (None, None))
        if execution is not None and sentinel is not None and sentinel.get("ExecutionId") == row.get("ExecutionId"):
            source, what = started.get(pk), "the ExecutionStarted Version"
        else:
            key = (unescape_partition_key(pk), str(row.get("ExecutionId")))
            source, what = starts.get(key), "its start message's Version"
        if source is not None and _version_of(row) != _version_of(source):
            problems.append(f"{where}: Version {_version_of(row)!r} != {what} {_version_of(source)!r}")
    for pk, child in started.items():
        parent = _check_json_column(str((child or {}).get("ParentInstance") or "null"), pk, [])
        if not isinstance(parent, dict):
            continue
        parent_pk = escape_partition_key(str((parent.get("OrchestrationInstance") or {}).get("InstanceId")))
        parent_ex = executions.get(parent_pk, (None, None))[0]
        if parent_ex is None:
            continue
        created = next(
            (
                r
                for r in parent_ex.rows
                if r.get("EventType") == "SubOrchestrationInstanceCreated"
                and r.get("EventId") == parent.get("TaskScheduleId")
            ),
            None,
        )
        where = f"History {pk!r} ExecutionStarted"
        if created is not None and _version_of(created) != _version_of(child):
            problems.append(
                f"{where}: Version {_version_of(child)!r} != the parent's SubOrchestrationInstanceCreated "
                f"Version {_version_of(created)!r}"
            )
        if str(parent.get("Version") or "") != _version_of(started.get(parent_pk)):
            problems.append(
                f"{where}: ParentInstance.Version {parent.get('Version')!r} != the parent's version "
                f"{_version_of(started.get(parent_pk))!r}"
            )


def _check_sync(hub: TaskHub, ignore_message: Callable[[str], bool] | None) -> FormatReport:
    report = FormatReport()
    problems = report.problems
    history = read_history_rows(hub)
    instances = read_instance_rows(hub)
    report.history_rows, report.instances = len(history), len(instances)

    by_pk: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in history:
        by_pk[r["PartitionKey"]].append(r)
    executions = {pk: _check_history_partition(pk, rows, problems) for pk, rows in by_pk.items()}
    instance_pks = {r["PartitionKey"] for r in instances}
    for pk in by_pk:
        if pk not in instance_pks:
            problems.append(f"History PK {pk!r}: has history rows but no Instances row")
    for row in instances:
        _check_instance(row, hub.settings.hub_name, executions, problems)
    check_entity_tables(by_pk, instances, problems)
    messages = _peek_messages(hub)
    _check_versions(executions, instances, messages, problems)

    for queue, body in messages:
        if ignore_message is not None and ignore_message(body):
            continue
        report.messages += 1
        _check_message(queue, body, problems)
        check_entity_message(queue, body, problems)
    for name, data in _read_blobs(hub):
        report.blobs += 1
        _check_blob(name, data, problems)
    partitions = _read_table(hub, hub.names.partitions_table)
    if partitions:
        report.partition_rows = len(partitions)
        check_partition_rows(partitions, hub.names.control_queues, problems)
    return report


async def check_hub_format(
    hub: TaskHub, *, ignore_message: Callable[[str], bool] | None = None
) -> FormatReport:
    """Check every History row, Instances row, visible queue message and large-payload blob of ``hub``;
    raises AssertionError listing every problem. ``ignore_message(body)`` skips messages a test put on a
    queue on purpose (bad ones)."""
    report = await asyncio.to_thread(_check_sync, hub, ignore_message)
    if report.problems:
        shown = "\n  ".join(report.problems[:40])
        more = f"\n  ... and {len(report.problems) - 40} more" if len(report.problems) > 40 else ""
        raise AssertionError(f"hub {hub.settings.hub_name} breaks the storage format:\n  {shown}{more}")
    return report
