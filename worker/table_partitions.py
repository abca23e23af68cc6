"""The table partition loop (``useTablePartitionManagement``): reads every row of ``{Hub}Partitions``,
asks the pure planner (:func:`taskhub.hub.table_leases.plan_pass`) what to do, and writes the rows back
with ETag-guarded Replace calls (docs/partition-table.md, DTFx's ``TablePartitionManager``).

Same surface as :class:`worker.partitions.PartitionManager` (``start``, ``owned_queues``, ``shutdown``),
so the worker picks one or the other from the setting.

* A pass's storage calls (one query, then the writes) must finish within ``partitionTableOperationTimeout``
  (2 s, DTFx's ``PartitionTableOperationTimeout``);
  a 412 (another worker wrote the row since it was read) abandons the rest of the pass. A failed pass is
  retried at once, after 10 failures in a row at the normal pace.
* Passes run every ``leaseAcquireInterval``; every 1 s while a hand-over is in progress. Rows are held
  for ``leaseInterval`` after each renewal (``leaseRenewInterval`` is not used, as in DTFx).
* A stolen queue is drained: no new messages are fetched, the in-memory ones finish (at most
  ``DRAIN_TIMEOUT``), and only then is the row released to the thief.

Log events match the lease-blob loop's: ``partitions.acquired``, ``partitions.steal``,
``partitions.handover``, ``partitions.released``, ``partitions.lost`` (``kind=ownership``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from taskhub.errors import StorageError
from taskhub.format.history import utcnow
from taskhub.format.partition_rows import PartitionRow
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.partition_table import read_rows
from taskhub.hub.table_leases import RowWrite, TableLocal, plan_pass

__all__ = ["TablePartitionManager"]

log = logging.getLogger(__name__)

QueueCallback = Callable[[str], Awaitable[None]]
T = TypeVar("T")

FAST_ROUND = 1.0
"""Seconds between passes while a hand-over is in progress (DTFx)."""
SHUTDOWN_ROUND = 0.5
"""Seconds between passes while stopping: release each row as soon as its queue drained."""
DRAIN_TIMEOUT = 60.0
"""Seconds a stolen queue's in-memory work may take before the row is released anyway (DTFx)."""
MAX_QUICK_RETRIES = 10


class TablePartitionManager:
    """Balances the control queues of a hub with the other workers through the Partitions table."""

    def __init__(
        self,
        hub: TaskHub,
        worker_id: str,
        *,
        start_listening: QueueCallback,
        stop_listening: QueueCallback,
        ownership_lost: QueueCallback,
        is_busy: Callable[[str], bool],
        peer_gone: Callable[[], None] | None = None,
    ) -> None:
        self.hub = hub
        self.worker_id = worker_id
        self._start_listening = start_listening
        self._stop_listening = stop_listening
        self._ownership_lost = ownership_lost
        self._is_busy = is_busy
        self._peer_gone = peer_gone
        s = hub.settings.storage
        self.lease_interval = s.lease_interval
        self.acquire_every = s.lease_acquire_interval.total_seconds()
        self.operation_timeout = s.partition_table_operation_timeout.total_seconds()
        self.owned: set[str] = set()
        self.listening: set[str] = set()
        self.draining: dict[str, float] = {}
        """Queues whose drain started (loop time it started)."""
        self._peers: dict[str, str] = {}
        self._shutting_down = False
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def owned_queues(self) -> list[str]:
        return sorted(self.owned)

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"table-partitions:{self.worker_id}")

    async def shutdown(self, timeout: float) -> None:
        """Drain every owned queue and release its row (peers see IsDraining and take it over)."""
        self._shutting_down = True
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.owned and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # the loop releases each row as its queue drains
        self._stop.set()
        self._wake.set()
        if self._task is not None:  # a pass stuck on a storage that does not answer is cancelled
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, max(deadline - loop.time(), 0.0))
        if self.owned:  # past the deadline: give up what is left anyway, once
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pass(force_release=True), max(deadline - loop.time(), 1.0))

    # -- the loop -----------------------------------------------------------------------------------

    async def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            fast = False
            try:
                fast = await self._pass()
                failures = 0
            except Exception as err:
                failures += 1
                if isinstance(err, StorageError) and err.precondition_failed:
                    log.info(
                        "partitions.pass_conflict worker_id=%s (412; reading the table again)", self.worker_id
                    )
                elif isinstance(err, TimeoutError):
                    log.warning(
                        "partitions.pass_timeout worker_id=%s (over the %g-second partitionTableOperationTimeout)",
                        self.worker_id,
                        self.operation_timeout,
                    )
                else:
                    action = f"Partitions table: read again in up to {self.acquire_every:g} s"
                    if not self.hub.storage.conditions.report(err, action):
                        log.exception("partitions.round_failed worker_id=%s", self.worker_id)
            if failures:
                wait = 0.0 if failures < MAX_QUICK_RETRIES else self.acquire_every
            elif self._shutting_down:
                wait = SHUTDOWN_ROUND
            else:
                wait = FAST_ROUND if fast else self.acquire_every
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.05, wait))

    async def _pass(self, *, force_release: bool = False) -> bool:
        """Read every row, plan, write; True when a hand-over is in progress (pass again in 1 s)."""
        loop = asyncio.get_running_loop()
        budget = [self.operation_timeout]  # storage time only, not the listeners' start/stop

        async def bounded(call: Awaitable[T]) -> T:
            t0 = loop.time()
            try:
                return await asyncio.wait_for(call, timeout=max(0.01, budget[0]))
            finally:
                budget[0] -= loop.time() - t0

        rows = await bounded(read_rows(self.hub.storage, self.hub.names)) or []
        self._watch_peers(rows)
        now = loop.time()
        drained = {
            q
            for q, t in self.draining.items()
            if force_release or not self._is_busy(q) or now - t > DRAIN_TIMEOUT
        }
        local = TableLocal(
            self.worker_id,
            listening=frozenset(self.listening),
            draining=frozenset(self.draining),
            drained=frozenset(drained | (self.owned if force_release else set())),
            shutting_down=self._shutting_down or force_release,
            owned=frozenset(self.owned),
        )
        plan = plan_pass(rows, local, utcnow(), self.lease_interval)
        if plan.writes or plan.lost:
            log.debug("partitions.plan worker_id=%s %s", self.worker_id, plan.describe())
        for queue in plan.lost:
            await self._lost(queue)
        for write in plan.writes:
            try:
                await bounded(self._write(write))
            except StorageError as err:
                if err.precondition_failed:
                    log.info(
                        "partitions.etag_conflict worker_id=%s queue=%s reason=%s etag=%s",
                        self.worker_id,
                        write.queue,
                        write.reason,
                        write.etag,
                    )
                    raise  # abandon the rest of the pass; the next one reads the table again
                if write.reason != "steal":
                    raise
                log.warning(
                    "partitions.steal_failed worker_id=%s queue=%s error=%s", self.worker_id, write.queue, err
                )
                continue
            await self._after(write)
        return plan.fast

    async def _write(self, write: RowWrite) -> None:
        await self.hub.storage.update_entity(
            self.hub.names.partitions_table, write.row.to_entity(), etag=write.etag, mode="replace"
        )

    async def _after(self, write: RowWrite) -> None:
        """What follows a successful write: listen, drain, or forget the queue."""
        q = write.queue
        if write.reason in ("claim", "renew", "drain") and q not in self.owned:
            self.owned.add(q)
            log.info(
                "partitions.acquired worker_id=%s kind=ownership queue=%s via=%s",
                self.worker_id,
                q,
                write.reason,
            )
        if write.reason == "steal":
            log.info(
                "partitions.steal worker_id=%s queue=%s from=%s", self.worker_id, q, write.row.current_owner
            )
        elif write.reason == "release":
            log.info(
                "partitions.handover worker_id=%s queue=%s (drained, releasing the row)", self.worker_id, q
            )
            self.owned.discard(q)
            self.draining.pop(q, None)
            log.info(
                "partitions.released worker_id=%s kind=ownership queue=%s to=%s",
                self.worker_id,
                q,
                write.row.next_owner or "-",
            )
        elif write.drain and q not in self.draining:
            self.draining[q] = asyncio.get_running_loop().time()
            if q in self.listening:
                self.listening.discard(q)
                log.info("partitions.stop_listening worker_id=%s queue=%s", self.worker_id, q)
                await self._stop_listening(q)
        elif write.listen and q not in self.listening and q not in self.draining and not self._shutting_down:
            self.listening.add(q)
            await self._start_listening(q)

    async def _lost(self, queue: str) -> None:
        self.owned.discard(queue)
        self.listening.discard(queue)
        self.draining.pop(queue, None)
        log.warning(
            "partitions.lost worker_id=%s kind=ownership queue=%s reason=another worker owns its row",
            self.worker_id,
            queue,
        )
        await self._ownership_lost(queue)

    def _watch_peers(self, rows: list[PartitionRow]) -> None:
        """Another worker's row became free or changed hands: poll now for the work it held."""
        gone: list[str] = []
        for row in rows:
            before = self._peers.get(row.queue)
            if before is not None and row.current_owner != before:
                gone.append(before)
            if row.current_owner and row.current_owner != self.worker_id:
                self._peers[row.queue] = row.current_owner
            else:
                self._peers.pop(row.queue, None)
        if gone and self._peer_gone is not None:
            log.info(
                "partitions.peer_lease_gone worker_id=%s peers=%s",
                self.worker_id,
                ",".join(sorted(set(gone))),
            )
            self._peer_gone()
