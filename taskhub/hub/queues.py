"""Control queues and the work-item queue of a hub (runtime.md 7.2, 7.5, storage-format.md 3.5, 3.9).

* Sending builds the ``MessageData`` envelope (ActivityId, SequenceNumber, Episode, Sender), offloads
  large bodies, and puts the message with ``time_to_live=-1`` and the visibility delay of a timer or a
  scheduled start (at most 7 days, the Azure Queues limit; longer timers are chained by the replay layer).
* Receiving decodes bodies (raw or Base64, large ones fetched); a body that cannot be decoded comes back
  as an :class:`Inbound` whose ``error`` says why, so the caller can handle it without a traceback.
* Abandoning makes a message visible again after ``min(2**DequeueCount, 600)`` seconds.
* A process that sends to a queue it also listens on wakes its own listener at once (``wakeups``: ``QueueWakeups``),
  and the other processes of the hub on this machine by a datagram (``taskhub.hub.wakeup``).
* **Local delivery** (``local``: ``taskhub.hub.local``, ``send(..., local=True)``): when this process consumes the queue
  itself and has room, the message is still written (the durable record) but hidden and held by the
  sender, and handed to the local consumer at once: no receive, no poll delay. If the process dies, the
  message becomes visible after the held visibility and any worker takes it, as after a receive.
* **Held messages** (``held``: ``taskhub.hub.held``): a worker takes messages with a short visibility and keeps them
  hidden by renewing them (every half visibility) while it works on them; deleting, abandoning or
  ``held.let_go`` ends that. So a dead worker's messages come back within that short visibility, not
  the configured 5-minute timeout. :meth:`give_back` is an abandon that is retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
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
from taskhub.hub.held import HeldMessages
from taskhub.hub.inbound import Inbound, LocalConsumer
from taskhub.hub.local import LocalDispatch
from taskhub.hub.payloads import Payloads
from taskhub.hub.wakeup import QueueWakeups
from taskhub.storage import ReceivedMessage, Storage

__all__ = ["HubQueues", "Inbound", "LocalConsumer", "Sent", "abandon_delay", "held_visibility", "MAX_VISIBILITY_DELAY"]

log = logging.getLogger(__name__)

MAX_VISIBILITY_DELAY = timedelta(days=7) - timedelta(seconds=1)
"""Azure Queues refuses a visibility timeout of 7 days or more."""


GIVE_BACK_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits between the attempts of a give-back that fails (the storage is unreachable, say)."""


def held_visibility(configured: timedelta, lease_interval: timedelta, renew_interval: timedelta) -> timedelta:
    """The visibility a worker takes messages with and renews them to while it works on them.

    ``leaseInterval - leaseRenewInterval`` (20 s with the defaults), at least 10 s, at most the
    configured visibility timeout: a dead worker's messages come back about when its leases expire.
    """
    short = max(lease_interval - renew_interval, timedelta(seconds=10))
    return min(configured, short)


def abandon_delay(dequeue_count: int) -> int:
    """Seconds an abandoned message stays hidden: 2^DequeueCount, at most 600 (runtime.md 7.5)."""
    return 600 if dequeue_count > 30 else min(2 ** max(dequeue_count, 0), 600)


@dataclass
class Sent:
    """Where a message went, and the large-message blob holding it (if it was offloaded)."""

    queue: str
    blob_name: str | None = None
    due: bool = True
    """Visible at once (not delayed until a timer or a scheduled start)."""


class HubQueues:
    """Sends to and receives from the queues of one hub."""

    def __init__(self, storage: Storage, names: HubNames, payloads: Payloads) -> None:
        self.storage = storage
        self.names = names
        self.payloads = payloads
        self.wakeups = QueueWakeups(self._hub_key)
        """Listeners woken by this process's sends (and the other processes' on this machine)."""
        self.local = LocalDispatch()
        """This process's consumers of the messages it sends itself."""
        self.held = HeldMessages(storage)
        """The messages this process keeps hidden while it works on them."""
        self._deleting: set[asyncio.Task[None]] = set()
        self.stopping = False
        """Set by a stopping worker: a give-back is tried once, not retried past its deadline."""

    def _hub_key(self) -> str:
        try:  # the work-item queue's URL names the account and the hub
            return str(self.storage._queue(self.names.work_item_queue).url)
        except Exception:
            return self.names.work_item_queue

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

    async def send(
        self,
        queue: str,
        md: MessageData,
        *,
        visible_at: datetime | None = None,
        local: bool = False,
        wake: bool = True,
    ) -> Sent:
        """Put ``md`` on ``queue``, hidden until ``visible_at`` (capped at 7 days). With ``local``, a
        message due now goes to this process's consumer of the queue if it has room (local delivery).
        ``wake=False``: wake no listener (pollers still find it); the caller calls :meth:`notify` once
        what the message needs is in place (a start's Instances row)."""
        delay = 0
        if visible_at is not None:
            seconds = (visible_at - utcnow()).total_seconds()
            delay = max(0, min(math.ceil(seconds), int(MAX_VISIBILITY_DELAY.total_seconds())))
        body, blob = await self.payloads.encode_message(md)
        consumer = self.local.consumer(queue) if local and delay == 0 else None
        if consumer is not None and consumer.reserve(md):
            try:
                raw = await self.storage.send_message_held(queue, body, visibility_timeout=consumer.visibility)
            except BaseException:
                consumer.release()
                raise
            self.held.hold(raw, consumer.visibility)
            self.local.counted(queue)
            consumer.take(Inbound(raw, md))
            return Sent(queue, blob)
        await self.storage.send_message(queue, body, visibility_timeout=delay)
        if delay == 0 and wake:
            self.wakeups.notify(queue)
        return Sent(queue, blob, due=delay == 0)

    async def send_to_instance(
        self, md: MessageData, *, visible_at: datetime | None = None, local: bool = False, wake: bool = True
    ) -> Sent:
        """Send to the control queue of the message's target instance."""
        assert md.task_message is not None
        instance_id = md.task_message.orchestration_instance.instance_id or ""
        queue = self.names.control_queue_for(instance_id)
        return await self.send(queue, md, visible_at=visible_at, local=local, wake=wake)

    async def send_work_item(self, md: MessageData, *, local: bool = False) -> Sent:
        return await self.send(self.names.work_item_queue, md, local=local)

    # -- receiving ------------------------------------------------------------------------------------

    async def receive(
        self, queue: str, *, max_messages: int, visibility_timeout: timedelta, hold: bool = False
    ) -> list[Inbound]:
        """Take up to ``max_messages`` and decode them; undecodable ones carry ``error``. With
        ``hold``, they are kept hidden (:meth:`hold`) until deleted, abandoned or let go."""
        seconds = int(visibility_timeout.total_seconds())
        if self.wakeups.listening:  # a listening worker: other processes' sends wake it (taskhub.hub.wakeup)
            self.wakeups.peers.listen()
        raws = await self.storage.receive_messages(queue, max_messages=max_messages, visibility_timeout=seconds)
        if hold:
            for r in raws:
                self.held.hold(r, seconds)
        return list(await asyncio.gather(*(self.decode(r) for r in raws)))

    # -- giving back and deleting ---------------------------------------------------------------------

    async def stop_holding(self, timeout: float | None = None) -> None:
        """Finish the deletes under way (for at most ``timeout`` s), then stop renewing everything (worker
        shutdown): what is still held reappears on its own."""
        if self._deleting:  # a delete cut short leaves its message to come back, dropped as a duplicate
            await asyncio.wait(set(self._deleting), timeout=timeout)
        for task in list(self._deleting):
            task.cancel()
        self.wakeups.close()
        await self.held.stop()

    async def give_back(self, inbound: Inbound | ReceivedMessage, *, delay: int | None = None) -> bool:
        """Abandon (:meth:`abandon`), retried with backoff while the storage fails (once only when the
        worker is :attr:`stopping`); False if it never went through (the message then reappears after
        its held visibility)."""
        raw = inbound.raw if isinstance(inbound, Inbound) else inbound
        delays = () if self.stopping else GIVE_BACK_DELAYS
        for attempt, wait in enumerate((*delays, None), start=1):
            try:
                await self.abandon(inbound, delay=delay)
                return True
            except Exception as err:
                then = "not given back: it reappears after its visibility" if wait is None else f"tried again in {wait:g} s"
                if not self.storage.conditions.report(err, f"giving a message back: {then}"):
                    log.warning("queue.give_back_failed queue=%s message=%s attempt=%d error=%s", raw.queue, raw.id, attempt, err)
                if wait is None:
                    return False
                await asyncio.sleep(wait)
        return False

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
        await self.held.release(raw)
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
        await self.held.renewal_done(raw)
        await self.storage.update_message(raw, visibility_timeout=int(visibility_timeout.total_seconds()))

    def delete_soon(self, messages: Iterable[Inbound], *, why: str) -> None:
        """Delete messages whose work is committed, off the caller's path: until then they stay held
        (hidden); a failed delete is logged and the message comes back later, to be dropped as a
        duplicate. :meth:`stop_holding` waits for these deletes."""
        batch = list(messages)
        if not batch:
            return
        task = asyncio.create_task(self._delete_all(batch, why))
        self._deleting.add(task)
        task.add_done_callback(self._deleting.discard)

    async def _delete_all(self, messages: list[Inbound], why: str) -> None:
        outcomes = await asyncio.gather(*(self.delete(m) for m in messages), return_exceptions=True)
        for m, outcome in zip(messages, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                action = "a processed message was not deleted: it reappears and is dropped as a duplicate"
                if not self.storage.conditions.report(outcome, action):
                    log.warning("queue.delete_failed %s message_id=%s error=%s", why, m.raw.id, outcome)

    async def delete(self, inbound: Inbound | ReceivedMessage) -> bool:
        """Delete a held message; False (logged) if it was already gone or re-received elsewhere."""
        raw = inbound.raw if isinstance(inbound, Inbound) else inbound
        await self.held.release(raw)
        try:
            await self.storage.delete_message(raw)
            return True
        except StorageError as err:
            if not err.not_found:
                raise
            log.info("queue.delete_gone queue=%s message=%s code=%s", raw.queue, raw.id, err.code)
            return False
