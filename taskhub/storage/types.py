"""The plain values the storage seam takes and returns."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from azure.data.tables import EntityProperty

__all__ = ["Row", "ReceivedMessage", "BlobInfo", "QueryPage", "BatchKind", "BatchOp"]


class Row(dict[str, Any]):
    """A table entity as plain values, with the service's ``etag`` and ``timestamp``."""

    etag: str | None = None
    timestamp: datetime | None = None


@dataclass
class ReceivedMessage:
    """A queue message this process holds; ``pop_receipt`` changes on every update."""

    queue: str
    id: str
    pop_receipt: str
    content: str
    dequeue_count: int
    inserted_on: datetime | None
    next_visible_on: datetime | None


@dataclass
class BlobInfo:
    etag: str
    lease_state: str  # available | leased | expired | breaking | broken
    lease_status: str  # locked | unlocked


@dataclass
class QueryPage:
    rows: list[Row]
    continuation_token: str | None


BatchKind = Literal[
    "insert", "upsert_replace", "upsert_merge", "merge_if_match", "replace_if_match", "delete"
]


@dataclass
class BatchOp:
    """One operation of an entity-group transaction (all rows share one PartitionKey)."""

    kind: BatchKind
    row: dict[str, Any]
    etag: str | None = None


def plain(value: Any) -> Any:
    if isinstance(value, EntityProperty):
        return value.value
    return value


def to_row(entity: Any) -> Row:
    row = Row({k: plain(v) for k, v in entity.items()})
    meta = getattr(entity, "metadata", None) or {}
    row.etag = meta.get("etag")
    row.timestamp = meta.get("timestamp")
    return row


def encode_token(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()


MAX_TOKEN_CHARS = 4096


def decode_token(token: str | None) -> Any:
    """The table continuation token that ``encode_token`` made: ``{"PartitionKey": str|None, "RowKey":
    str|None}``. Anything else (too long, not base64 JSON, another shape): a one-line ValueError."""
    if not token:
        return None
    bad = ValueError(f"continuation token {token[:40]!r} is not one this hub issued")
    if len(token) > MAX_TOKEN_CHARS:
        raise bad
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, RecursionError):
        raise bad from None
    if not (
        isinstance(value, dict)
        and set(value) <= {"PartitionKey", "RowKey"}
        and all(v is None or isinstance(v, str) for v in value.values())
    ):
        raise bad
    try:
        for v in value.values():
            (v or "").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        raise bad from None
    return value
