"""The Instances-row writes of checkpoints, with quiet ones coalesced.

Every checkpoint merges the instance's Instances row (storage-format.md 5.2). Most episodes of a running
orchestration change nothing in it that a reader acts on: the status stays Running, the custom status
and execution id stay what this worker last wrote, only ``LastUpdatedTime`` moves. Such a **quiet**
merge is not written at once: it waits up to ``QUIET_DELAY_S`` (1 s) and is then written If-Match the
ETag of this worker's last write of the row, so a row that anyone else wrote since (another worker that
took the instance over, a purge) is left alone. A later episode of the instance replaces a waiting merge
(its columns include everything the waiting one had); a merge that is not quiet (started, completed,
failed, terminated, suspended, resumed, a new custom status, a row this worker has not written) first
settles the waiting one, then is written at once, as before.

What it saves: one storage call on the critical path of most steps, and all but about one write per
second per busy instance. What it costs: ``LastUpdatedTime`` of a running instance lags by up to 1 s,
and a crash can lose the last quiet update (the next episode, or nothing if the instance then waits:
the row keeps the previous time). Status, output, custom status and execution id are never late.
``TASKHUB_COALESCE_ROWS=0`` writes every merge at once, as DTFx does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from taskhub.errors import StorageError
from taskhub.hub.lifecycle import TaskHub

__all__ = ["InstanceRows", "QUIET_DELAY_S", "QUIET_COLUMNS", "COALESCE_ROWS_ENV", "coalesce_rows_enabled"]

log = logging.getLogger(__name__)

QUIET_DELAY_S = 1.0
QUIET_COLUMNS = frozenset({"CustomStatus", "ExecutionId", "LastUpdatedTime", "TaskHubName"})
"""What an episode that ends Running with no lifecycle event merges; the first two must be unchanged."""
_MAX_ROWS = 100_000
"""Rows remembered (ETag, custom status); beyond it the oldest are forgotten (they are written at once)."""
_RETRIES = 3
COALESCE_ROWS_ENV = "TASKHUB_COALESCE_ROWS"


def coalesce_rows_enabled() -> bool:
    """On unless ``TASKHUB_COALESCE_ROWS=0``."""
    return os.environ.get(COALESCE_ROWS_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


@dataclass
class _Row:
    etag: str
    custom_status: Any
    execution_id: Any


class InstanceRows:
    def __init__(self, hub: TaskHub, *, coalesce: bool | None = None, delay_s: float = QUIET_DELAY_S) -> None:
        self.hub = hub
        self.coalesce = coalesce_rows_enabled() if coalesce is None else coalesce
        self.delay_s = delay_s
        self._rows: dict[str, _Row] = {}
        self._waiting: dict[str, dict[str, Any]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._writing: dict[str, asyncio.Task[None]] = {}
        self.deferred = 0
        """Quiet merges that waited (for tests and the benchmark)."""
        self.coalesced = 0
        """Waiting merges replaced by a later one before they were written."""

    def _quiet(self, instance_id: str, columns: dict[str, Any]) -> bool:
        row = self._rows.get(instance_id)
        return (
            self.coalesce
            and row is not None
            and columns.keys() <= QUIET_COLUMNS
            and columns.get("CustomStatus") == row.custom_status
            and columns.get("ExecutionId") == row.execution_id
        )

    async def merge(self, instance_id: str, columns: dict[str, Any]) -> None:
        """A checkpoint's merge: quiet ones wait (see the module docstring), the others are written now."""
        if self._quiet(instance_id, columns):
            self.deferred += 1
            if instance_id in self._waiting:
                self.coalesced += 1
            self._waiting[instance_id] = columns
            if instance_id not in self._timers and instance_id not in self._writing:
                self._arm(instance_id, self.delay_s)
            return
        await self._settle(instance_id)
        etag = await self.hub.tracking.merge_instance(instance_id, columns)
        self._remember(instance_id, etag, columns)

    def forget(self, instance_ids: Iterable[str] | None = None) -> None:
        """Drop what is remembered and waiting (an instance that ended, a lost lease, a failed episode)."""
        for instance_id in list(self._rows) if instance_ids is None else instance_ids:
            self._rows.pop(instance_id, None)
            self._waiting.pop(instance_id, None)
            timer = self._timers.pop(instance_id, None)
            if timer is not None:
                timer.cancel()

    async def close(self) -> None:
        """Write every waiting merge now (a worker that stops)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        await asyncio.gather(*self._writing.values(), return_exceptions=True)
        await asyncio.gather(*(self._write(i) for i in list(self._waiting)), return_exceptions=True)

    # -- internals ----------------------------------------------------------------------------------

    def _remember(self, instance_id: str, etag: str, columns: dict[str, Any]) -> None:
        self._rows.pop(instance_id, None)
        self._rows[instance_id] = _Row(etag, columns.get("CustomStatus"), columns.get("ExecutionId"))
        while len(self._rows) > _MAX_ROWS:
            self.forget([next(iter(self._rows))])

    async def _settle(self, instance_id: str) -> None:
        """Before a write that supersedes it: drop a waiting merge, let one being written finish."""
        self._waiting.pop(instance_id, None)
        timer = self._timers.pop(instance_id, None)
        if timer is not None:
            timer.cancel()
        task = self._writing.get(instance_id)
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(task)

    def _arm(self, instance_id: str, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers[instance_id] = loop.call_later(delay, self._start_write, instance_id)

    def _start_write(self, instance_id: str) -> None:
        self._timers.pop(instance_id, None)
        task = asyncio.create_task(self._write(instance_id))
        self._writing[instance_id] = task
        task.add_done_callback(lambda _: self._written(instance_id, task))

    def _written(self, instance_id: str, task: asyncio.Task[None]) -> None:
        if self._writing.get(instance_id) is task:
            del self._writing[instance_id]
        if instance_id in self._waiting and instance_id not in self._timers:  # came in while writing
            self._arm(instance_id, self.delay_s)

    async def _write(self, instance_id: str) -> None:
        columns = self._waiting.pop(instance_id, None)
        row = self._rows.get(instance_id)
        if columns is None or row is None:
            return
        for attempt in range(1, _RETRIES + 1):
            try:
                etag = await self.hub.tracking.merge_instance(instance_id, columns, etag=row.etag)
            except StorageError as err:
                if err.precondition_failed or err.not_found:  # written (or purged) by someone else since
                    log.info("instance_row.quiet_superseded instance_id=%s code=%s", instance_id, err.code)
                    self._rows.pop(instance_id, None)
                    return
                if attempt == _RETRIES:
                    action = f"Instances row of {instance_id}: its LastUpdatedTime waits for the next step"
                    self.hub.storage.conditions.report(err, action)
                    return
                await asyncio.sleep(self.delay_s * attempt)
                continue
            if self._rows.get(instance_id) is row:  # not forgotten or rewritten meanwhile
                self._remember(instance_id, etag, columns)
            return
