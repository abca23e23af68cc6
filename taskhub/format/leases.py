"""The lease blob documents of the safe blob partition manager (storage-format.md 1.3).

``intent/{queue}`` and ``ownership/{queue}`` hold a :class:`LeaseBlob`; ``taskhub.json`` at the root of
``{h}-leases`` holds a :class:`TaskHubInfo`. Pure: JSON in, JSON out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from taskhub.errors import FormatError
from taskhub.format.timefmt import format_datetime, parse_datetime

__all__ = ["LeaseBlob", "TaskHubInfo"]


@dataclass
class LeaseBlob:
    """Content of ``intent/{queue}`` and ``ownership/{queue}``: who owns it, with which lease id, which epoch."""

    partition_id: str
    owner: str | None = None
    token: str | None = None
    epoch: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {"PartitionId": self.partition_id, "Owner": self.owner, "Token": self.token, "Epoch": self.epoch},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> LeaseBlob:
        try:
            obj = json.loads(text)
            return cls(
                partition_id=str(obj["PartitionId"]),
                owner=obj.get("Owner"),
                token=obj.get("Token"),
                epoch=int(obj.get("Epoch") or 0),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise FormatError(f"lease blob content is not a DTFx lease: {str(text)[:80]!r} ({err})") from None


@dataclass
class TaskHubInfo:
    """``taskhub.json`` at the root of ``{h}-leases``."""

    task_hub_name: str
    created_at: datetime
    partition_count: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "TaskHubName": self.task_hub_name,
                "CreatedAt": format_datetime(self.created_at),
                "PartitionCount": self.partition_count,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> TaskHubInfo:
        try:
            obj = json.loads(text)
            return cls(str(obj["TaskHubName"]), parse_datetime(obj["CreatedAt"]), int(obj["PartitionCount"]))
        except (ValueError, KeyError, TypeError) as err:
            raise FormatError(f"taskhub.json is not a DTFx TaskHubInfo: {str(text)[:80]!r} ({err})") from None
