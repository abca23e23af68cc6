"""The rows of the ``{Hub}Partitions`` table of DTFx's table partition manager (docs/partition-table.md).

One row per control queue: PartitionKey ``""``, RowKey the queue name, and ``CurrentOwner``,
``NextOwner`` (Edm.String), ``OwnedSince``, ``LastRenewal``, ``ExpiresAt`` (Edm.DateTime, UTC) and
``IsDraining`` (Edm.Boolean). A null column is absent from the row: every write replaces the whole row.
Pure: a table row (plain dict, as the storage seam returns it) in, an entity dict out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from taskhub.errors import FormatError

__all__ = ["PartitionRow"]


def _time(row: Mapping[str, Any], column: str) -> datetime | None:
    value = row.get(column)
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise FormatError(f"Partitions row {row.get('RowKey')!r}: {column} is {value!r}, not an Edm.DateTime")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text(row: Mapping[str, Any], column: str) -> str | None:
    value = row.get(column)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FormatError(f"Partitions row {row.get('RowKey')!r}: {column} is {value!r}, not a string")
    return value


@dataclass(frozen=True)
class PartitionRow:
    """One row of ``{Hub}Partitions`` (DTFx ``TablePartitionLease``) and the ETag it was read with."""

    queue: str
    current_owner: str | None = None
    next_owner: str | None = None
    owned_since: datetime | None = None
    last_renewal: datetime | None = None
    expires_at: datetime | None = None
    is_draining: bool = False
    etag: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any], etag: str | None = None) -> PartitionRow:
        """From a table row; a wrong-typed column raises :class:`FormatError`."""
        queue = row.get("RowKey")
        if not isinstance(queue, str) or not queue:
            raise FormatError(f"Partitions row has no RowKey (the control queue's name): {dict(row)!r}")
        draining = row.get("IsDraining", False)
        if not isinstance(draining, bool):
            raise FormatError(f"Partitions row {queue!r}: IsDraining is {draining!r}, not an Edm.Boolean")
        return cls(
            queue,
            _text(row, "CurrentOwner"),
            _text(row, "NextOwner"),
            _time(row, "OwnedSince"),
            _time(row, "LastRenewal"),
            _time(row, "ExpiresAt"),
            draining,
            etag if etag is not None else getattr(row, "etag", None),
        )

    def to_entity(self) -> dict[str, Any]:
        """The entity to Replace the row with: null columns left out, as DTFx's writes leave them."""
        entity: dict[str, Any] = {"PartitionKey": "", "RowKey": self.queue}
        for column, value in (
            ("CurrentOwner", self.current_owner),
            ("NextOwner", self.next_owner),
            ("OwnedSince", self.owned_since),
            ("LastRenewal", self.last_renewal),
            ("ExpiresAt", self.expires_at),
        ):
            if value is not None:
                entity[column] = value
        entity["IsDraining"] = self.is_draining
        return entity

    @classmethod
    def new(cls, queue: str) -> PartitionRow:
        """The row ``create-task-hub`` inserts: no owner, not draining."""
        return cls(queue)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def with_(self, **changes: Any) -> PartitionRow:
        return replace(self, **changes)
