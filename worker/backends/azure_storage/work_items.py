"""Orchestration and entity work items on Azure Storage (``worker.backends.base.OrchestrationWorkItems``):
histories and Instances rows from the tables (``taskhub.hub.tracking``), commits by the ordered
checkpoint (``checkpoint``), Instances-row merges coalesced (``instance_rows``), messages given back,
deferred, deleted or poisoned on their control queue (``taskhub.hub.queues``, ``taskhub.hub.poison``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import cast

from taskhub.format.history import ExecutionTerminatedEvent, OrchestrationStatus, utcnow
from taskhub.format.rows import HistoryLoad, InstanceRow
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.queues import Inbound, abandon_delay
from worker.backends.azure_storage.checkpoint import CheckpointsInProgress, checkpoint, repair_instance_row
from worker.backends.azure_storage.instance_rows import InstanceRows
from worker.backends.base import Committed, WorkMessage
from worker.engine.episode import Episode

__all__ = ["AzureOrchestrationItems", "inbound"]


def inbound(m: WorkMessage) -> Inbound:
    """The queue message behind a work message of this backend."""
    return cast(Inbound, m)


async def reject_messages(hub: TaskHub, messages: Sequence[WorkMessage]) -> None:
    """Put ``messages`` back as DTFx abandons them, never counted toward ``poisonMessageThreshold``
    (see ``AzureOrchestrationItems.reject``); control-queue and work-item messages alike."""
    for m in messages:
        await put_back_uncounted(hub, m, abandon_delay(m.dequeue_count))


async def put_back_uncounted(hub: TaskHub, message: WorkMessage, delay: int) -> None:
    """Hide ``message`` for ``delay`` s; one whose next dequeue would pass ``poisonMessageThreshold`` is
    put back as a fresh copy (dequeue count 0) and the old one deleted, so this wait never poisons it."""
    m = inbound(message)
    if m.raw.dequeue_count + 1 > hub.settings.storage.poison_message_threshold and m.data is not None:
        await hub.queues.send(m.raw.queue, m.data, visible_at=utcnow() + timedelta(seconds=delay))
        await hub.queues.delete(m)
    else:
        await hub.queues.abandon(m, delay=delay)


class AzureOrchestrationItems:
    def __init__(self, hub: TaskHub, in_progress: CheckpointsInProgress) -> None:
        self.hub = hub
        self.rows = InstanceRows(hub)
        """Instances-row merges; quiet ones wait up to 1 s and are coalesced (``instance_rows``)."""
        self.in_progress = in_progress

    async def load_history(self, instance_id: str) -> HistoryLoad:
        return await self.hub.tracking.load_history(instance_id)

    async def read_instance(self, instance_id: str) -> InstanceRow | None:
        return await self.hub.tracking.get_instance(instance_id)

    async def commit(
        self,
        instance_id: str,
        *,
        loaded: HistoryLoad,
        episode: Episode,
        consumed: Sequence[WorkMessage],
        episodes_before: int | None = None,
        coalesce: bool = False,
    ) -> Committed:
        return await checkpoint(
            self.hub,
            instance_id=instance_id,
            loaded=loaded,
            episode=episode,
            consumed=[inbound(m) for m in consumed],
            episodes_before=episodes_before,
            rows=self.rows if coalesce else None,
            in_progress=self.in_progress,
        )

    async def give_back(
        self, messages: Sequence[WorkMessage], *, at_once: bool = False, delay: int | None = None
    ) -> None:
        wait = 0 if at_once else delay
        await asyncio.gather(*(self.hub.queues.give_back(inbound(m), delay=wait) for m in messages))

    async def reject(self, messages: Sequence[WorkMessage]) -> None:
        """Back to the queue, hidden for 2^DequeueCount seconds (at most 600), as DTFx abandons them; a
        message whose next dequeue would pass ``poisonMessageThreshold`` is put back as a fresh copy
        (dequeue count 0) and the old one deleted: rejections do not count toward it."""
        await reject_messages(self.hub, messages)

    async def defer(self, message: WorkMessage, *, delay: int | None = None, counted: bool = True) -> None:
        if not counted:
            await put_back_uncounted(self.hub, message, abandon_delay(message.dequeue_count) if delay is None else delay)
            return
        await self.hub.queues.abandon(inbound(message), delay=delay)

    async def discard(self, messages: Sequence[WorkMessage]) -> None:
        for m in messages:
            await self.hub.queues.delete(inbound(m))

    async def poison(self, message: WorkMessage, reason: str) -> None:
        await self.hub.poison.move(inbound(message), reason)

    async def repair_instance(self, instance_id: str, loaded: HistoryLoad) -> bool:
        return await repair_instance_row(self.hub, instance_id, loaded)

    async def terminate_unstarted(self, instance_id: str, event: ExecutionTerminatedEvent) -> bool:
        row = await self.hub.tracking.get_instance(instance_id)
        if row is None or row.runtime_status is not OrchestrationStatus.PENDING:
            return False
        await self.hub.tracking.mark_terminated(
            instance_id, reason=event.input or "", at=event.timestamp, completed=utcnow()
        )
        return True

    def forget(self, instance_ids: Sequence[str] | None = None) -> None:
        self.rows.forget(instance_ids)

    async def flush(self) -> None:
        await self.rows.close()

    def report(self, err: BaseException, action: str) -> bool:
        return self.hub.storage.conditions.report(err, action)

    def release(self, messages: Sequence[WorkMessage]) -> None:
        self.hub.queues.held.let_go([inbound(m) for m in messages])
