"""Entity rows and messages as Durable Functions writes them (entities.md 1.3-1.5, 2.1-2.3, 4.1, 4.2), for
``tests.format_check``. Written out from the spec, not from ``taskhub.format.entities``.

- an entity's History partition: exactly RowKeys 0-2 + sentinel, ``OrchestratorStarted``,
  ``ExecutionStarted`` (Name = the instance id, Version ``""``, Input = the SchedulerState),
  ``OrchestratorCompleted``, all with EventId -1;
- its Instances row: Name = the id, Input = the same SchedulerState, CustomStatus = the EntityStatus that
  agrees with it, Running;
- every SchedulerState, RequestMessage, ResponseMessage, ReleaseMessage and EntityStatus: keys in the
  serialized order, required keys present, no ``$type``, DateTimes in the Newtonsoft form.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["check_entity_history", "check_entity_instance", "check_entity_event"]

REQUEST_KEYS = [
    "op",
    "signal",
    "input",
    "id",
    "parent",
    "parentExecution",
    "due",
    "Timestamp",
    "Predecessor",
    "lockset",
    "pos",
]
STATE_KEYS = ["exists", "state", "queue", "lockedBy", "suspended", "sorter", "taskhubRecent"]
SORTER_KEYS = ["LastSentToInstance", "ReceivedFromInstance", "ReceiveHorizon", "SendHorizon"]
STATUS_KEYS = ["entityExists", "queueSize", "lockedBy"]
RESPONSE_KEYS = ["result", "exceptionType", "failureDetails"]
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,6}[1-9])?Z?")
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DELAYED = re.compile(r"op@\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z")


def _ordered(obj: Any, order: list[str], required: list[str], where: str, problems: list[str]) -> bool:
    if not isinstance(obj, dict):
        problems.append(f"{where}: not a JSON object")
        return False
    keys = list(obj)
    unknown = [k for k in keys if k not in order]
    if unknown:
        problems.append(f"{where}: unexpected keys {unknown}")
    known = [k for k in keys if k in order]
    if known != sorted(known, key=order.index):
        problems.append(f"{where}: keys {known} are not in the order {order}")
    missing = [k for k in required if k not in obj]
    if missing:
        problems.append(f"{where}: missing keys {missing}")
    return not unknown and not missing


def _datetime(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, str) or not DATETIME.fullmatch(value):
        problems.append(f"{where}: {value!r} is not a Newtonsoft DateTime")


def check_request(obj: Any, where: str, problems: list[str]) -> None:
    if not _ordered(obj, REQUEST_KEYS, ["op", "id", "Timestamp", "Predecessor"], where, problems):
        return
    for key in ("Timestamp", "Predecessor", "due"):
        if key in obj:
            _datetime(obj[key], f"{where}.{key}", problems)
    if obj.get("signal") is False or obj.get("pos") == 0:
        problems.append(f"{where}: default values (signal false, pos 0) must be omitted")
    for key in ("input", "parent", "parentExecution"):
        if key in obj and not isinstance(obj[key], str):
            problems.append(f"{where}.{key}: must be a string when present")
    if "lockset" in obj:
        if obj["op"] is not None:
            problems.append(f"{where}: a lock request has op null")
        for item in obj["lockset"]:
            _ordered(item, ["name", "key"], ["name", "key"], f"{where}.lockset[]", problems)


def check_state(text: Any, where: str, problems: list[str]) -> dict[str, Any] | None:
    try:
        obj = json.loads(text)
    except (TypeError, ValueError):
        problems.append(f"{where}: SchedulerState is not JSON: {str(text)[:60]!r}")
        return None
    if not _ordered(obj, STATE_KEYS, ["sorter"], f"{where} SchedulerState", problems):
        return None
    if obj.get("exists") is False or obj.get("suspended") is False or obj.get("queue") == []:
        problems.append(f"{where}: SchedulerState defaults (false, []) must be omitted")
    if "state" in obj and not isinstance(obj["state"], str):
        problems.append(f"{where}: state must be the JSON text of the state")
    for i, m in enumerate(obj.get("queue") or []):
        check_request(m, f"{where} queue[{i}]", problems)
    sorter = obj["sorter"]
    if _ordered(sorter, SORTER_KEYS, [], f"{where} sorter", problems):
        for dest, value in (sorter.get("LastSentToInstance") or {}).items():
            _datetime(value, f"{where} LastSentToInstance[{dest}]", problems)
        for src, buf in (sorter.get("ReceivedFromInstance") or {}).items():
            _ordered(buf, ["Last", "ExecutionId", "Buffered"], ["Last"], f"{where} sorter[{src}]", problems)
            for m in (buf.get("Buffered") or {}).values():
                check_request(m, f"{where} sorter[{src}].Buffered", problems)
        for key in ("ReceiveHorizon", "SendHorizon"):
            if key in sorter:
                _datetime(sorter[key], f"{where} sorter.{key}", problems)
    return obj


def check_entity_history(pk: str, rows: list[dict[str, Any]], problems: list[str]) -> None:
    where = f"entity History {pk!r}"
    by_key = {r["RowKey"]: r for r in rows}
    if sorted(by_key) != ["0000000000000000", "0000000000000001", "0000000000000002", "sentinel"]:
        problems.append(f"{where}: RowKeys {sorted(by_key)} are not 0-2 + sentinel")
        return
    kinds = [by_key[f"{i:016X}"].get("EventType") for i in range(3)]
    if kinds != ["OrchestratorStarted", "ExecutionStarted", "OrchestratorCompleted"]:
        problems.append(f"{where}: events {kinds}")
    if any(by_key[f"{i:016X}"].get("EventId") != -1 for i in range(3)):
        problems.append(f"{where}: every EventId must be -1")
    started = by_key["0000000000000001"]
    if started.get("Name") != pk or started.get("Version") != "":
        problems.append(
            f"{where}: ExecutionStarted Name {started.get('Name')!r} / Version {started.get('Version')!r}"
        )
    if "InputBlobName" in started:  # a large state: in a blob, the column empty (storage-format.md 4.4)
        if started.get("Input") not in ("", None):
            problems.append(f"{where}: ExecutionStarted has InputBlobName and a non-empty Input")
    elif "Input" in started:
        check_state(started["Input"], where, problems)


def check_entity_instance(row: dict[str, Any], history: dict[str, Any] | None, problems: list[str]) -> None:
    pk = row["PartitionKey"]
    where = f"entity Instances {pk!r}"
    if row.get("Name") != pk or row.get("RuntimeStatus") != "Running":
        problems.append(f"{where}: Name {row.get('Name')!r}, RuntimeStatus {row.get('RuntimeStatus')!r}")
    text = row.get("Input")
    state = None if text is None or str(text).startswith("http") else check_state(text, where, problems)
    if (
        history is not None
        and text is not None
        and history.get("Input") != text
        and not str(text).startswith("http")
    ):
        problems.append(f"{where}: Input differs from the ExecutionStarted Input")
    try:
        status = json.loads(row.get("CustomStatus") or "")
    except ValueError:
        problems.append(f"{where}: CustomStatus is not JSON")
        return
    if not _ordered(status, STATUS_KEYS, [], f"{where} EntityStatus", problems) or state is None:
        return
    expected: dict[str, Any] = {}
    if state.get("exists"):
        expected["entityExists"] = True
    if state.get("queue"):
        expected["queueSize"] = len(state["queue"])
    if state.get("lockedBy") is not None:
        expected["lockedBy"] = state["lockedBy"]
    if status != expected:
        problems.append(f"{where}: EntityStatus {status} does not agree with the state ({expected})")


def check_entity_event(target: str, name: str, text: Any, where: str, problems: list[str]) -> None:
    """An EventSent / EventRaised to or from an entity: its name and message JSON."""
    if target.startswith("@"):
        if name == "op" or DELAYED.fullmatch(name):
            try:
                check_request(json.loads(text), f"{where} RequestMessage", problems)
            except (TypeError, ValueError):
                problems.append(f"{where}: RequestMessage is not JSON")
        elif name == "release":
            try:
                _ordered(
                    json.loads(text), ["parent", "id"], ["parent", "id"], f"{where} ReleaseMessage", problems
                )
            except (TypeError, ValueError):
                problems.append(f"{where}: ReleaseMessage is not JSON")
        elif name == "continue":
            if text is not None:
                problems.append(f"{where}: continue carries no input")
        else:
            problems.append(
                f"{where}: {name!r} is not an entity message name (op, op@<time>, release, continue)"
            )
    elif GUID.fullmatch(name or ""):
        try:
            obj = json.loads(text)
        except (TypeError, ValueError):
            return  # an ordinary event whose name happens to be a GUID
        if isinstance(obj, dict) and "result" in obj:
            _ordered(obj, RESPONSE_KEYS, ["result"], f"{where} ResponseMessage", problems)


def check_entity_tables(
    by_pk: dict[str, list[dict[str, Any]]], instances: list[dict[str, Any]], problems: list[str]
) -> None:
    """Entity partitions and rows, and entity messages recorded in orchestration histories."""
    for pk, rows in by_pk.items():
        if pk.startswith("@"):
            check_entity_history(pk, rows, problems)
            continue
        for r in rows:
            if r.get("EventType") == "EventSent":
                where = f"History {pk!r} EventSent {r.get('EventId')}"
                check_entity_event(
                    str(r.get("InstanceId")), str(r.get("Name")), r.get("Input"), where, problems
                )
            elif r.get("EventType") == "EventRaised":
                where = f"History {pk!r} EventRaised {r.get('Name')!r}"
                check_entity_event(pk, str(r.get("Name")), r.get("Input"), where, problems)
    for row in instances:
        pk = row["PartitionKey"]
        if pk.startswith("@"):
            started = next((r for r in by_pk.get(pk, []) if r.get("EventType") == "ExecutionStarted"), None)
            check_entity_instance(row, started, problems)


def check_entity_message(queue: str, body: str, problems: list[str]) -> None:
    """An EventRaised queue message to an entity, or an entity's response."""
    try:
        tm = json.loads(body).get("TaskMessage") or {}
    except (ValueError, AttributeError):
        return
    event = tm.get("Event") or {}
    if event.get("EventType") != 15:  # EventRaised
        return
    target = str((tm.get("OrchestrationInstance") or {}).get("InstanceId"))
    check_entity_event(
        target, str(event.get("Name")), event.get("Input"), f"queue {queue} to {target!r}", problems
    )
