"""The partition lease loop: reads the ``intent/`` and ``ownership/`` lease blobs, asks the pure planner
(:func:`taskhub.hub.leases.plan`) what to do, and applies its actions (runtime.md 7.8, "safe blob manager").

* Intent leases say who *should* own a queue; they are balanced across workers and may be stolen
  (ChangeLease with the lease id read from the blob's JSON).
* Ownership leases say who *does* own it; they are never stolen. A worker that loses an intent stops
  dequeuing that queue, lets its sessions checkpoint, and only then releases ownership, which the new
  intent holder takes. So no control queue is processed by two workers at once.
* Held leases are renewed every ``leaseRenewInterval``; a renewal refused with 409/412 means the lease
  was stolen or expired: an intent loss starts draining, an ownership loss stops the queue at once and
  drops what was prefetched but not started.
* A worker that dies stops renewing; after ``leaseInterval`` its leases are free for the others.

Every acquisition, loss and handover is logged with the worker id and the queue name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from taskhub.errors import FormatError, StorageError
from taskhub.hub.leases import (
    AcquireIntent,
    AcquireOwnership,
    AdoptLease,
    LeaseAction,
    LeaseBlob,
    LeaseKind,
    LeaseView,
    LocalState,
    ReleaseIntent,
    ReleaseOwnership,
    StartListening,
    StealIntent,
    StopListening,
    plan,
)
from taskhub.hub.lifecycle import TaskHub
from taskhub.storage.conditions import HUB_GONE_CODES

__all__ = ["PartitionManager"]

log = logging.getLogger(__name__)

QueueCallback = Callable[[str], Awaitable[None]]
FAST_ROUND = 1.0
"""Seconds between rounds while a handover is in progress (draining, or waiting for a release)."""
RELEASE_AT_LEAST = 1.0
"""Seconds a stop past its deadline still gives the releases of the leases it holds (then they expire)."""
SHUTDOWN_ROUND = 0.1
"""Seconds between rounds while stopping: release each ownership as soon as its queue drained."""


@dataclass
class _Held:
    kind: LeaseKind
    queue: str
    lease_id: str
    epoch: int


class PartitionManager:
    """Balances the control queues of a hub with the other workers through lease blobs."""

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
        self._peer_gone = peer_gone
        self._peers: dict[tuple[str, str], str] = {}
        """(kind, queue) -> the other worker seen holding that lease in the last round."""
        self.worker_id = worker_id
        self._start_listening = start_listening
        self._stop_listening = stop_listening
        self._ownership_lost = ownership_lost
        self._is_busy = is_busy
        s = hub.settings.storage
        self.lease_seconds = max(15, min(60, round(s.lease_interval.total_seconds())))
        self.renew_every = s.lease_renew_interval.total_seconds()
        self.acquire_every = s.lease_acquire_interval.total_seconds()
        self.held: dict[tuple[LeaseKind, str], _Held] = {}
        self.listening: set[str] = set()
        self._shutting_down = False
        self._round_failed = False
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def container(self) -> str:
        return self.hub.names.lease_container

    def owned_queues(self) -> list[str]:
        return sorted(q for (kind, q) in self.held if kind == "ownership")

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"partitions:{self.worker_id}")

    async def shutdown(self, timeout: float) -> None:
        """Stop listening everywhere, release intents, release each ownership once its queue drained."""
        self._shutting_down = True
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(kind == "ownership" for kind, _ in self.held) and loop.time() < deadline:
            if self._round_failed:  # the storage does not answer: release what has drained directly, once
                idle = [h for h in self.held.values() if h.kind == "intent" or not self._is_busy(h.queue)]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        asyncio.gather(*(self._release(h) for h in idle)), max(deadline - loop.time(), 0.0)
                    )
            await asyncio.sleep(0.1)  # the loop releases each ownership as its queue drains
        self._stop.set()
        self._wake.set()
        if self._task is not None:  # a round stuck on a storage that does not answer is cancelled
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, max(deadline - loop.time(), 0.0))
        left = list(self.held.values())  # past the deadline: give up what is left anyway, once
        if left:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(self._release(h) for h in left)), max(deadline - loop.time(), RELEASE_AT_LEAST)
                )

    # -- the loop -----------------------------------------------------------------------------------

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_renew = loop.time() + self.renew_every
        while not self._stop.is_set():
            fast = False
            try:
                if loop.time() >= next_renew:
                    await self._renew_all()
                    next_renew = loop.time() + self.renew_every
                fast = await self._round()
            except Exception as err:
                action = (
                    f"partition leases: tries again in {self.acquire_every:g} s; held leases expire after "
                    f"{self.lease_seconds} s without renewal"
                )
                if not self.hub.storage.conditions.report(err, action):
                    log.exception("partitions.round_failed worker_id=%s", self.worker_id)
                self._round_failed = True
            else:
                self._round_failed = False
            wait = SHUTDOWN_ROUND if self._shutting_down else FAST_ROUND if fast else self.acquire_every
            wait = max(0.05, min(wait, next_renew - loop.time()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _read_views(self) -> list[LeaseView]:
        names = self.hub.names

        async def one(kind: LeaseKind, queue: str) -> LeaseView | None:
            blob = f"{kind}/{queue}"
            try:
                data, info = await self.hub.storage.read_blob(self.container, blob)
                content = LeaseBlob.from_json(data)
            except StorageError as err:
                if err.not_found:
                    return None
                raise
            except FormatError:
                content = LeaseBlob(queue)
                info = await self.hub.storage.blob_properties(self.container, blob)
            return LeaseView.from_blob(kind, content, info.lease_state)

        kinds: tuple[LeaseKind, ...] = ("intent", "ownership")
        views = await asyncio.gather(*(one(k, q) for q in names.control_queues for k in kinds))
        return [v for v in views if v is not None]

    def _local(self) -> LocalState:
        intents = frozenset(q for (k, q) in self.held if k == "intent")
        owned = frozenset(q for (k, q) in self.held if k == "ownership")
        busy = frozenset(q for q in owned | self.listening if self._is_busy(q))
        return LocalState(
            worker_id=self.worker_id,
            intents_held=intents,
            ownerships_held=owned,
            busy_queues=busy,
            listening=frozenset(self.listening),
            shutting_down=self._shutting_down,
        )

    async def _round(self) -> bool:
        """One planning round; True when a handover is in progress (poll faster)."""
        views = await self._read_views()
        self._watch_peers(views)
        p = plan(views, self._local())
        acted = p.actions
        # An acquired intent makes its ownership takeable, and held ownership makes the queue
        # listenable: follow up within this round instead of waiting a round for each step.
        for _ in range(3):
            acquired = False
            for action in acted:
                acquired |= await self._apply(action, views)
            if not acquired:
                break
            acted = tuple(
                a
                for a in plan(views, self._local()).actions
                if isinstance(a, (AcquireOwnership, StartListening))
            )
        local = self._local()
        handing_over = bool(local.intents_held - local.ownerships_held) or bool(
            local.ownerships_held - local.listening
        )
        return handing_over or bool(p.actions)

    def _watch_peers(self, views: Sequence[LeaseView]) -> None:
        """A lease another worker held is gone (expired, released, taken over): that worker may have
        died, and what it held is visible again or soon will be. Tell the host, which ends the polling
        backoff of its loops, so that this worker picks that work up now rather than after up to
        ``maxQueuePollingInterval``."""
        gone: list[str] = []
        for v in views:
            key = (v.kind, v.queue)
            before = self._peers.get(key)
            if before is not None and (not v.leased or v.owner != before):
                gone.append(before)
            if v.leased and v.owner and v.owner != self.worker_id:
                self._peers[key] = v.owner
            else:
                self._peers.pop(key, None)
        if gone and self._peer_gone is not None:
            log.info("partitions.peer_lease_gone worker_id=%s peers=%s", self.worker_id, ",".join(sorted(set(gone))))
            self._peer_gone()

    # -- actions ------------------------------------------------------------------------------------

    async def _apply(self, action: LeaseAction, views: list[LeaseView]) -> bool:
        if isinstance(action, AcquireIntent):
            return await self._acquire("intent", action.queue, steal_token=None)
        if isinstance(action, StealIntent):
            log.info(
                "partitions.steal worker_id=%s queue=%s from=%s",
                self.worker_id,
                action.queue,
                action.from_owner,
            )
            return await self._acquire("intent", action.queue, steal_token=action.token)
        if isinstance(action, AcquireOwnership):
            return await self._acquire("ownership", action.queue, steal_token=None)
        if isinstance(action, AdoptLease):
            return await self._adopt(action.kind, action.queue, action.token)
        if isinstance(action, ReleaseIntent):
            held = self.held.get(("intent", action.queue))
            if held is not None:
                await self._release(held)
            return False
        if isinstance(action, ReleaseOwnership):
            held = self.held.get(("ownership", action.queue))
            if held is not None:
                log.info(
                    "partitions.handover worker_id=%s queue=%s (drained, releasing ownership)",
                    self.worker_id,
                    action.queue,
                )
                await self._release(held)
            return False
        if isinstance(action, StartListening):
            if action.queue not in self.listening and ("ownership", action.queue) in self.held:
                self.listening.add(action.queue)
                await self._start_listening(action.queue)
            return False
        if isinstance(action, StopListening):
            if action.queue in self.listening:
                self.listening.discard(action.queue)
                log.info("partitions.stop_listening worker_id=%s queue=%s", self.worker_id, action.queue)
                await self._stop_listening(action.queue)
            return False
        raise TypeError(f"unknown lease action {action!r}")  # pragma: no cover

    async def _acquire(self, kind: LeaseKind, queue: str, *, steal_token: str | None) -> bool:
        s = self.hub.storage
        blob = f"{kind}/{queue}"
        new_id = str(uuid.uuid4())
        try:
            data, _ = await s.read_blob(self.container, blob)
            try:
                current = LeaseBlob.from_json(data)
            except FormatError:
                current = LeaseBlob(queue)
            if steal_token:
                await s.change_lease(self.container, blob, steal_token, new_id)
            else:
                await s.acquire_lease(self.container, blob, duration=self.lease_seconds, proposed_id=new_id)
            content = LeaseBlob(queue, self.worker_id, new_id, current.epoch + 1)
            await s.upload_blob(self.container, blob, content.to_json().encode(), lease_id=new_id)
        except StorageError as err:
            if err.conflict or err.lease_lost or err.precondition_failed or err.not_found:
                log.debug(
                    "partitions.acquire_lost_race worker_id=%s blob=%s code=%s",
                    self.worker_id,
                    blob,
                    err.code,
                )
                return False
            raise
        self.held[(kind, queue)] = _Held(kind, queue, new_id, content.epoch)
        log.info(
            "partitions.acquired worker_id=%s kind=%s queue=%s epoch=%d",
            self.worker_id,
            kind,
            queue,
            content.epoch,
        )
        return True

    async def _adopt(self, kind: LeaseKind, queue: str, token: str) -> bool:
        blob = f"{kind}/{queue}"
        try:
            await self.hub.storage.renew_lease(self.container, blob, token)
            data, _ = await self.hub.storage.read_blob(self.container, blob)
            epoch = LeaseBlob.from_json(data).epoch
        except (StorageError, FormatError):
            return False
        self.held[(kind, queue)] = _Held(kind, queue, token, epoch)
        log.info("partitions.adopted worker_id=%s kind=%s queue=%s", self.worker_id, kind, queue)
        return True

    async def _release(self, held: _Held) -> None:
        s = self.hub.storage
        blob = f"{held.kind}/{held.queue}"
        self.held.pop((held.kind, held.queue), None)
        try:
            content = LeaseBlob(held.queue, None, None, held.epoch)
            await s.upload_blob(self.container, blob, content.to_json().encode(), lease_id=held.lease_id)
            await s.release_lease(self.container, blob, held.lease_id)
            log.info(
                "partitions.released worker_id=%s kind=%s queue=%s", self.worker_id, held.kind, held.queue
            )
        except StorageError as err:
            action = f"lease {blob} not released: it expires within {self.lease_seconds} s"
            self.hub.storage.conditions.report(err, action)

    async def _renew_all(self) -> None:
        for held in list(self.held.values()):
            blob = f"{held.kind}/{held.queue}"
            try:
                await self.hub.storage.renew_lease(self.container, blob, held.lease_id)
            except StorageError as err:
                if err.lease_lost or err.conflict or err.precondition_failed or err.not_found:
                    await self._lost(held, err)
                else:  # a transient failure counts as renewed (DTFx); the lease may still expire
                    action = (
                        f"leases: counted as renewed, renewed again in {self.renew_every:g} s "
                        f"(they expire {self.lease_seconds} s after the last renewal)"
                    )
                    self.hub.storage.conditions.report(err, action)

    async def _lost(self, held: _Held, err: StorageError) -> None:
        self.held.pop((held.kind, held.queue), None)
        if err.code in HUB_GONE_CODES:  # the hub was wiped: one line for all its leases
            self.hub.storage.conditions.report(err, "the hub is recreated and its leases taken again")
            log.debug("partitions.lost worker_id=%s kind=%s queue=%s reason=%s", self.worker_id, held.kind, held.queue, err)
        elif held.kind == "intent":  # stolen by a worker that has fewer: balancing, or it expired
            log.info(
                "partitions.lost worker_id=%s kind=intent queue=%s reason=%s (another worker took the intent "
                "lease: balancing; this worker drains the queue and hands it over)",
                self.worker_id,
                held.queue,
                err.code or err.kind.value,
            )
        else:  # ownership is never stolen: it expired (this worker could not renew it in time)
            log.warning(
                "partitions.lost worker_id=%s kind=ownership queue=%s reason=%s (expired: not renewed in time; "
                "this worker stops the queue at once)",
                self.worker_id,
                held.queue,
                err,
            )
        if held.kind == "ownership":
            self.listening.discard(held.queue)
            await self._ownership_lost(held.queue)
        else:
            self._wake.set()  # plan now: stop listening and start draining
