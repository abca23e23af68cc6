"""Control queues and the work-item queue of a hub (runtime.md 7.2, 7.5, storage-format.md 3.5, 3.9).

* Sending builds the ``MessageData`` envelope (ActivityId, SequenceNumber, Episode, Sender), offloads
  large bodies, and puts the message with ``time_to_live=-1`` and the visibility delay of a timer or a
  scheduled start (at most 7 days, the Azure Queues limit; longer timers are chained by the replay layer).
* Receiving decodes bodies (raw or Base64, large ones fetched); a body that cannot be decoded comes back
  as an :class:`Inbound` whose ``error`` says why, so the caller can handle it without a traceback.
* Abandoning makes a message visible again after ``min(2**DequeueCount, 600)`` seconds.
* A process that sends to a queue it also listens on wakes its own listener at once (:meth:`wake`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from taskhub.errors import FormatError, StorageError
from taskhub.format.history import HistoryEvent, OrchestrationInstance, utcnow
from taskhub.format.messages import (
    ExecutionContext,
    MessageData,
    TaskMessage,
    new_activity_id,
    next_sequence_number,
)
from taskhub.format.names import HubNames
from taskhub.hub.payloads import Payloads
from taskhub.storage import ReceivedMessage, Storage

__all__ = ["HubQueues", "Inbound", "Sent", "abandon_delay", "MAX_VISIBILITY_DELAY"]

log = logging.getLogger(__name__)

MAX_VISIBILITY_DELAY = timedelta(days=7) - timedelta(seconds=1)
"""Azure Queues refuses a visibility timeout of 7 days or more."""


def abandon_delay(dequeue_count: int) -> int:
    """Seconds an abandoned message stays hidden: 2^DequeueCount, at most 600 (runtime.md 7.5)."""
    return 600 if dequeue_count > 30 else min(2 ** max(dequeue_count, 0), 600)


@dataclass
class Sent:
    """Where a message went, and the large-message blob holding it (if it was offloaded)."""

    queue: str
    blob_name: str | None = None


@dataclass
class Inbound:
    """A received message and what it decoded to (``data``), or why it could not be decoded (``error``)."""

    raw: ReceivedMessage
    data: MessageData | None
    error: str | None = None

    @property
    def event(self) -> HistoryEvent:
        assert self.data is not None and self.data.task_message is not None
        return self.data.task_message.event

    @property
    def instance(self) -> OrchestrationInstance:
        assert self.data is not None and self.data.task_message is not None
        return self.data.task_message.orchestration_instance

    @property
    def queue(self) -> str:
        return self.raw.queue


class HubQueues:
    """Sends to and receives from the queues of one hub."""

    def __init__(self, storage: Storage, names: HubNames, payloads: Payloads) -> None:
        self.storage = storage
        self.names = names
        self.payloads = payloads
        self._wakeups: dict[str, list[Callable[[], None]]] = defaultdict(list)

    # -- wake-ups -------------------------------------------------------------------------------------

    def on_enqueue(self, queue: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` whenever this process sends to ``queue``; returns an unsubscribe function."""
        self._wakeups[queue].append(callback)
        return lambda: self._wakeups[queue].remove(callback)

    def wake(self, queue: str) -> None:
        for cb in list(self._wakeups.get(queue, ())):
            cb()

    # -- sending --------------------------------------------------------------------------------------

    @staticmethod
    def envelope(
        event: HistoryEvent,
        target: OrchestrationInstance,
        *,
        sender: OrchestrationInstance | None = None,
        episode: int | None = None,
        tags: dict[str, str] | None = None,
    ) -> MessageData:
        """The MessageData for ``event`` sent to ``target`` (Sender ``{"",""}`` for client messages)."""
        return MessageData(
            task_message=TaskMessage(
                event=event,
                orchestration_instance=target,
                orchestration_execution_context=ExecutionContext(tags=tags) if tags is not None else None,
            ),
            activity_id=new_activity_id(),
            sequence_number=next_sequence_number(),
            episode=episode,
            sender=sender if sender is not None else OrchestrationInstance("", ""),
        )

    async def send(self, queue: str, md: MessageData, *, visible_at: datetime | None = None) -> Sent:
        """Put ``md`` on ``queue``, hidden until ``visible_at`` (capped at 7 days)."""
        delay = 0
        if visible_at is not None:
            seconds = (visible_at - utcnow()).total_seconds()
            delay = max(0, min(math.ceil(seconds), int(MAX_VISIBILITY_DELAY.total_seconds())))
        body, blob = await self.payloads.encode_message(md)
        await self.storage.send_message(queue, body, visibility_timeout=delay)
        if delay == 0:
            self.wake(queue)
        return Sent(queue, blob)

    async def send_to_instance(self, md: MessageData, *, visible_at: datetime | None = None) -> Sent:
        """Send to the control queue of the message's target instance."""
        assert md.task_message is not None
        instance_id = md.task_message.orchestration_instance.instance_id or ""
        return await self.send(self.names.control_queue_for(instance_id), md, visible_at=visible_at)

    async def send_work_item(self, md: MessageData) -> Sent:
        return await self.send(self.names.work_item_queue, md)

    # -- receiving ------------------------------------------------------------------------------------

    async def receive(self, queue: str, *, max_messages: int, visibility_timeout: timedelta) -> list[Inbound]:
        """Take up to ``max_messages`` and decode them; undecodable ones carry ``error``."""
        raws = await self.storage.receive_messages(
            queue, max_messages=max_messages, visibility_timeout=int(visibility_timeout.total_seconds())
        )
        return list(await asyncio.gather(*(self.decode(r) for r in raws)))

    async def decode(self, raw: ReceivedMessage) -> Inbound:
        try:
            data = await self.payloads.decode_message(raw.content)
        except FormatError as err:
            return Inbound(raw, None, str(err))
        except StorageError as err:
            if err.not_found:
                return Inbound(raw, None, f"its large-message blob is missing: {err}")
            raise
        if data.task_message is None:
            return Inbound(raw, None, "queue message has no TaskMessage")
        return Inbound(raw, data)

    async def abandon(self, inbound: Inbound | ReceivedMessage, *, delay: int | None = None) -> None:
        """Make the message visible again later (exponential backoff by dequeue count)."""
        raw = inbound.raw if isinstance(inbound, Inbound) else inbound
        try:
            await self.storage.update_message(
                raw, visibility_timeout=abandon_delay(raw.dequeue_count) if delay is None else delay
            )
        except StorageError as err:
            if not err.not_found:
                raise
            log.info("queue.abandon_gone queue=%s message=%s", raw.queue, raw.id)

    async def renew(self, inbound: Inbound | ReceivedMessage, *, visibility_timeout: timedelta) -> None:
        raw = inbound.raw if isinstance(inbound, Inbound) else inbound
        await self.storage.update_message(raw, visibility_timeout=int(visibility_timeout.total_seconds()))

    async def delete(self, inbound: Inbound | ReceivedMessage) -> bool:
        """Delete a held message; False (logged) if it was already gone or re-received elsewhere."""
        raw = inbound.raw if isinstance(inbound, Inbound) else inbound
        try:
            await self.storage.delete_message(raw)
            return True
        except StorageError as err:
            if not err.not_found:
                raise
            log.info("queue.delete_gone queue=%s message=%s code=%s", raw.queue, raw.id, err.code)
            return False
