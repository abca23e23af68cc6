"""What the client returns: ``OrchestrationState``, ``Page`` and ``PurgeResult``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from taskhub.errors import TaskFailedError
from taskhub.history import FailureDetails, OrchestrationStatus
from taskhub.rows import InstanceRow

__all__ = ["OrchestrationState", "Page", "PurgeResult", "decode_json_text"]

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

    @classmethod
    def from_row(cls, row: InstanceRow) -> OrchestrationState:
        custom = row.custom_status
        return cls(
            instance_id=row.instance_id,
            name=row.name or "",
            runtime_status=row.runtime_status,
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
        )


@dataclass
class Page(Generic[T]):
    """One page of a query; pass ``continuation_token`` back for the next (None at the end)."""

    items: list[T] = field(default_factory=list)
    continuation_token: str | None = None


@dataclass
class PurgeResult:
    deleted_instance_count: int = 0
