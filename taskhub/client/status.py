"""What the client returns: ``OrchestrationState``, ``Page`` and ``PurgeResult``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from taskhub.errors import TaskFailedError
from taskhub.format.history import EventType, FailureDetails, HistoryEvent, OrchestrationStatus
from taskhub.format.rows import InstanceRow

__all__ = [
    "OrchestrationState",
    "Page",
    "PurgeResult",
    "decode_json_text",
    "history_projection",
    "status_time",
]

T = TypeVar("T")


def decode_json_text(text: str | None) -> Any:
    """A stored payload as a Python value; text that is not JSON (a failure message) stays text."""
    if text is None or text == "":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class OrchestrationState:
    """The status of one orchestration instance, as the Instances table records it."""

    instance_id: str
    name: str
    runtime_status: OrchestrationStatus
    execution_id: str | None = None
    created_at: datetime | None = None
    last_updated_at: datetime | None = None
    completed_at: datetime | None = None
    scheduled_start_at: datetime | None = None
    serialized_input: str | None = None
    serialized_output: str | None = None
    serialized_custom_status: str | None = None
    failure_details: FailureDetails | None = None
    generation: int = 0
    tags: dict[str, str] | None = None
    version: str = ""
    """The version the instance was started with (``""`` when none)."""

    @property
    def input(self) -> Any:
        return decode_json_text(self.serialized_input)

    @property
    def output(self) -> Any:
        return decode_json_text(self.serialized_output)

    @property
    def custom_status(self) -> Any:
        return decode_json_text(self.serialized_custom_status)

    @property
    def is_running(self) -> bool:
        return not self.runtime_status.is_terminal

    def raise_if_failed(self) -> None:
        """Raise ``TaskFailedError`` with the failure details if the orchestration failed."""
        if self.runtime_status is OrchestrationStatus.FAILED:
            details = self.failure_details or FailureDetails("Unknown", self.serialized_output or "")
            raise TaskFailedError(f"orchestration {self.instance_id!r} failed: {details}", details)

    def to_dict(self, *, show_input: bool = True) -> dict[str, Any]:
        """The Durable Functions status payload (``name``, ``instanceId``, ``runtimeStatus``, ...)."""
        return {
            "name": self.name,
            "instanceId": self.instance_id,
            "runtimeStatus": self.runtime_status.value,
            "input": self.input if show_input else None,
            "customStatus": self.custom_status,
            "output": self.output,
            "createdTime": status_time(self.created_at),
            "lastUpdatedTime": status_time(self.last_updated_at),
            "version": self.version,
        }

    @classmethod
    def from_row(cls, row: InstanceRow) -> OrchestrationState:
        custom = row.custom_status
        return cls(
            instance_id=row.instance_id,
            name=row.name or "",
            runtime_status=row.runtime_status or OrchestrationStatus.PENDING,
            execution_id=row.execution_id,
            created_at=row.created_time,
            last_updated_at=row.last_updated_time,
            completed_at=row.completed_time,
            scheduled_start_at=row.scheduled_start_time,
            serialized_input=row.input,
            serialized_output=row.output,
            serialized_custom_status=None if custom in (None, "null") else custom,
            generation=row.generation or 0,
            tags=row.tags,
            version=row.version or "",
        )


@dataclass
class Page(Generic[T]):
    """One page of a query; pass ``continuation_token`` back for the next (None at the end)."""

    items: list[T] = field(default_factory=list)
    continuation_token: str | None = None


@dataclass
class PurgeResult:
    deleted_instance_count: int = 0


def status_time(value: datetime | None) -> str | None:
    """``yyyy-MM-ddTHH:mm:ssZ``, no fractional seconds, as Durable Functions' status payload writes it."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def history_projection(
    events: list[HistoryEvent], *, show_output: bool = False, show_input: bool = False
) -> list[dict[str, Any]]:
    """History as Durable Functions shows it (http-api.md 2.2): no OrchestratorStarted/Completed,
    scheduling events folded into their completions (``FunctionName``, ``ScheduledTime``), EventType as
    a name, no EventId/IsPlayed/TimerId."""
    from taskhub.format.messages import event_to_json_obj
    from taskhub.format.timefmt import format_datetime

    scheduled: dict[int, HistoryEvent] = {}
    out: list[dict[str, Any]] = []
    for e in events:
        t = e.event_type
        if t in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted):
            continue
        if t in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated):
            scheduled[e.event_id] = e
            continue
        obj = event_to_json_obj(e, typed=False)
        obj["EventType"] = t.name
        for drop in ("EventId", "IsPlayed", "TimerId"):
            obj.pop(drop, None)
        if t is EventType.ExecutionStarted:
            obj["FunctionName"] = obj.pop("Name", None)
            for drop in ("OrchestrationInstance", "ParentInstance", "Version", "Tags"):
                obj.pop(drop, None)
            obj["Input"] = decode_json_text(obj.get("Input")) if show_input else None
        elif t is EventType.ExecutionCompleted:
            obj["OrchestrationStatus"] = getattr(
                e, "orchestration_status", OrchestrationStatus.COMPLETED
            ).value
            if show_output:
                obj["Result"] = decode_json_text(obj.get("Result"))
            else:
                obj.pop("Result", None)
        task_id = getattr(e, "task_scheduled_id", None)
        if task_id is not None and task_id in scheduled:
            sched = scheduled[task_id]
            obj["FunctionName"] = getattr(sched, "name", None)
            obj["ScheduledTime"] = format_datetime(sched.timestamp)
            if show_input:
                obj["Input"] = decode_json_text(getattr(sched, "input", None))
            obj.pop("TaskScheduledId", None)
            if show_output and "Result" in obj:
                obj["Result"] = decode_json_text(obj["Result"])
            elif not show_output:
                obj.pop("Result", None)
        out.append(obj)
    return out
