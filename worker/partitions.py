"""Control-queue ownership through the ``ownership/`` lease blobs (storage-format.md 1.3).

In this version a worker takes every free ``ownership/{queue}`` lease, renews what it holds, and
releases everything on stop, so two workers never process the same control queue. (Balancing and
stealing through ``intent/`` leases build on this loop.)

Acquire = AcquireLease(proposed id = new GUID) then re-upload the lease JSON with Owner, Token and
Epoch + 1 under the lease. Release = upload Owner/Token null under the lease, then ReleaseLease.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from taskhub.errors import FormatError, StorageError
from taskhub.hub import TaskHub
from taskhub.leases import LeaseBlob
from taskhub.names import HubNames

__all__ = ["OwnershipLeases"]

log = logging.getLogger(__name__)

QueueCallback = Callable[[str], Awaitable[None]]


@dataclass
class _Held:
    queue: str
    lease_id: str
    epoch: int


class OwnershipLeases:
    """Acquires, renews and releases ownership leases; tells the host when a queue is won or lost."""

    def __init__(
        self,
        hub: TaskHub,
        worker_id: str,
        *,
        on_acquired: QueueCallback,
        on_lost: QueueCallback,
    ) -> None:
        self.hub = hub
        self.worker_id = worker_id
        self.on_acquired = on_acquired
        self.on_lost = on_lost
        s = hub.settings.storage
        self.lease_seconds = max(15, min(60, int(s.lease_interval.total_seconds())))
        self.renew_every = s.lease_renew_interval.total_seconds()
        self.acquire_every = s.lease_acquire_interval.total_seconds()
        self.held: dict[str, _Held] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def container(self) -> str:
        return self.hub.names.lease_container

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"leases:{self.worker_id}")

    async def stop(self) -> None:
        """Stop the loop (the caller drains, then calls :meth:`release_all`)."""
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        next_acquire = 0.0
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            now = loop.time()
            try:
                await self.renew_all()
                if now >= next_acquire:
                    await self.acquire_free()
                    next_acquire = now + self.acquire_every
            except Exception:  # noqa: BLE001 - keep the lease loop alive whatever storage does
                log.exception("partitions.loop_error worker_id=%s", self.worker_id)
            wait = min(self.renew_every, max(0.1, next_acquire - loop.time()))
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=wait)
            except TimeoutError:
                pass

    async def acquire_free(self) -> None:
        for queue in self.hub.names.control_queues:
            if queue not in self.held and not self._stop.is_set():
                await self._try_acquire(queue)

    async def _try_acquire(self, queue: str) -> None:
        blob = HubNames.ownership_lease_blob(queue)
        s = self.hub.storage
        try:
            info = await s.blob_properties(self.container, blob)
            if info.lease_state == "leased":
                return
            current = LeaseBlob.from_json(await s.download_blob(self.container, blob))
            lease_id = await s.acquire_lease(
                self.container, blob, duration=self.lease_seconds, proposed_id=str(uuid.uuid4())
            )
        except StorageError as err:
            if err.conflict or err.lease_lost or err.not_found:
                return  # someone else was faster, or the hub is being deleted
            raise
        except FormatError:
            current = LeaseBlob(queue)
            lease_id = await s.acquire_lease(self.container, blob, duration=self.lease_seconds, proposed_id=str(uuid.uuid4()))
        content = LeaseBlob(queue, self.worker_id, lease_id, current.epoch + 1)
        await s.upload_blob(self.container, blob, content.to_json().encode(), lease_id=lease_id)
        self.held[queue] = _Held(queue, lease_id, content.epoch)
        log.info("partitions.acquired worker_id=%s queue=%s epoch=%d", self.worker_id, queue, content.epoch)
        await self.on_acquired(queue)

    async def renew_all(self) -> None:
        for held in list(self.held.values()):
            try:
                await self.hub.storage.renew_lease(self.container, HubNames.ownership_lease_blob(held.queue), held.lease_id)
            except StorageError as err:
                if err.lease_lost or err.not_found or err.conflict:
                    await self._lose(held.queue, f"renew failed: {err}")
                else:
                    log.warning("partitions.renew_error worker_id=%s queue=%s error=%s", self.worker_id, held.queue, err)

    async def _lose(self, queue: str, why: str) -> None:
        if self.held.pop(queue, None) is not None:
            log.warning("partitions.lost worker_id=%s queue=%s reason=%s", self.worker_id, queue, why)
            await self.on_lost(queue)

    async def release_all(self) -> None:
        """Give up every held lease (after draining), leaving Owner/Token empty in the blob."""
        for held in list(self.held.values()):
            blob = HubNames.ownership_lease_blob(held.queue)
            s = self.hub.storage
            try:
                content = LeaseBlob(held.queue, None, None, held.epoch)
                await s.upload_blob(self.container, blob, content.to_json().encode(), lease_id=held.lease_id)
                await s.release_lease(self.container, blob, held.lease_id)
                log.info("partitions.released worker_id=%s queue=%s", self.worker_id, held.queue)
            except StorageError as err:
                log.warning("partitions.release_failed worker_id=%s queue=%s error=%s", self.worker_id, held.queue, err)
            self.held.pop(held.queue, None)
