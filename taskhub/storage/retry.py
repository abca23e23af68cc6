"""Repeating the table writes that are safe to repeat, after a failure that leaves open whether the
first attempt landed.

The SDK retry policies never repeat a POST, MERGE or PATCH after a connection error or a read
timeout, and azure-core's status retries skip them too; a worker that gave up on such a write had to
abandon the whole episode. These writes are repeated here (up to :data:`ATTEMPTS` times):

* **InsertOrMerge / InsertOrReplace** (``upsert_entity``, the Instances row of a checkpoint): the same
  columns written twice leave the same row.
* **Merge/replace If-Match** (``update_entity`` with an ETag) and **the history batch** under the
  sentinel (``submit_batch`` with an If-Match or an insert in it), and **inserts**: a repeat is
  refused (412/409) exactly when the row changed since the ETag was read - which is also what happens
  when the first attempt *did* land. So a refusal after an uncertain attempt is checked by reading
  the fenced rows back: if they hold what this write sent, the first attempt landed and the write
  succeeded; otherwise the refusal stands (another writer got there first).

Not repeated: queue sends (a duplicate message is harmless but the runtime's own give-back handles
it), deletes and other idempotent verbs (the SDK already repeats those).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import EntityProperty

__all__ = ["repeat_write", "holds", "ATTEMPTS"]

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 3
DELAYS = (0.5, 1.5)
_KEYS = {"PartitionKey", "RowKey"}


def uncertain(err: BaseException) -> bool:
    """A failure after which the write may or may not have been applied."""
    if isinstance(err, (ServiceRequestError, ServiceResponseError)):
        return True
    status = getattr(err, "status_code", None)
    return isinstance(err, HttpResponseError) and isinstance(status, int) and status >= 500


def refused(err: BaseException) -> bool:
    """The service refused the write because of its precondition (the row exists / changed)."""
    if isinstance(err, (ResourceModifiedError, ResourceExistsError)):
        return True
    return isinstance(err, HttpResponseError) and getattr(err, "status_code", None) in (409, 412)


async def repeat_write(
    name: str,
    call: Callable[[], Awaitable[T]],
    *,
    confirm: Callable[[], Awaitable[T | None]] | None = None,
) -> T:
    """``call()``; after an uncertain failure, again. A refusal after an uncertain attempt asks
    ``confirm()`` whether that attempt landed (its result if so, None if not)."""
    was_uncertain = False
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await call()
        except AzureError as err:
            if refused(err) and was_uncertain and confirm is not None:
                landed = await confirm()
                if landed is not None:
                    log.warning("storage.write_landed op=%s attempt=%d", name, attempt)
                    return landed
                raise
            if not uncertain(err) or attempt == ATTEMPTS:
                raise
            was_uncertain = True
            log.warning("storage.write_retry op=%s attempt=%d error=%s", name, attempt, type(err).__name__)
            await asyncio.sleep(DELAYS[min(attempt, len(DELAYS)) - 1])
    raise AssertionError("unreachable")  # pragma: no cover


def _norm(value: Any) -> Any:
    if isinstance(value, EntityProperty):
        value = value.value
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return value


def holds(stored: Mapping[str, Any] | None, sent: Mapping[str, Any]) -> bool:
    """Whether a row read back holds every column a write sent (the write landed)."""
    if stored is None:
        return False
    for key, value in sent.items():
        if value is None or key in _KEYS or key.startswith("odata") or key.endswith("@odata.type"):
            continue
        if key not in stored or _norm(stored[key]) != _norm(value):
            return False
    return True
