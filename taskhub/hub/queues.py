"""Control queues and the work-item queue of a hub (runtime.md 7.2, 7.5, storage-format.md 3.5, 3.9).

* Sending builds the ``MessageData`` envelope (ActivityId, SequenceNumber, Episode, Sender), offloads
  large bodies, and puts the message with ``time_to_live=-1`` and the visibility delay of a timer or a
  scheduled start (at most 7 days, the Azure Queues limit; longer timers are chained by the replay layer).
* Receiving decodes bodies (raw or Base64, large ones fetched); a body that cannot be decoded comes back
  as an :class:`Inbound` whose ``error`` says why, so the caller can handle it without a traceback.
* Abandoning makes a message visible again after ``min(2**DequeueCount, 600)`` seconds.
* A process that sends to a queue it also listens on wakes its own listener at once (:meth:`wake`),
  and the other processes of the hub on this machine by a datagram (``taskhub.hub.wakeup``).
* **Local delivery** (:meth:`on_local`, ``send(..., local=True)``): when this process consumes the queue
  itself and has room, the message is still written (the durable record) but hidden and held by the
  sender, and handed to the local consumer at once: no receive, no poll delay. If the process dies, the
  message becomes visible after the held visibility and any worker takes it, as after a receive.
* **Held messages** (:meth:`hold`): a worker takes messages with a short visibility and keeps them
  hidden by renewing them (every half visibility) while it works on them; deleting, abandoning or
  :meth:`let_go` ends that. So a dead worker's messages come back within that short visibility, not
  the configured 5-minute timeout. :meth:`give_back` is an abandon that is retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
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
from taskhub.hub.wakeup import Wakeups
from taskhub.storage import ReceivedMessage, Storage

__all__ = ["HubQueues", "Inbound", "LocalConsumer", "Sent", "abandon_delay", "held_visibility", "MAX_VISIBILITY_DELAY"]

log = logging.getLogger(__name__)

MAX_VISIBILITY_DELAY = timedelta(days=7) - timedelta(seconds=1)
"""Azure Queues refuses a visibility timeout of 7 days or more."""


KEEPER_TICK = 1.0
"""How often the renewals of held messages are looked at (seconds)."""
GIVE_BACK_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits between the attempts of a give-back that fails (the storage is unreachable, say)."""


def held_visibility(configured: timedelta, lease_interval: timedelta, renew_interval: timedelta) -> timedelta:
    """The visibility a worker takes messages with and renews them to while it works on them.

    ``leaseInterval - leaseRenewInterval`` (20 s with the defaults), at least 10 s, at most the
    configured visibility timeout: a dead worker's messages come back about when its leases expire.
    """
    short = max(lease_interval - renew_interval, timedelta(seconds=10))
    return min(configured, short)


@dataclass
class _Hold:
    raw: ReceivedMessage
    visibility: int
    renew_at: float
    busy: asyncio.Task[None] | None = None


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


@dataclass
class LocalConsumer:
    """Who takes locally delivered messages of a queue in this process (see the module docstring).

    ``reserve(data)`` says whether it takes this message and has room now (and keeps that room);
    ``take(inbound)`` gets the held message; ``release()`` gives the room back when the send failed.
    """

    visibility: int
    reserve: Callable[[MessageData], bool]
    take: Callable[[Inbound], None]
    release: Callable[[], None]


class HubQueues:
    """Sends to and receives from the queues of one hub."""

    def __init__(self, storage: Storage, names: HubNames, payloads: Payloads) -> None:
        self.storage = storage
        self.names = names
        self.payloads = payloads
        self._wakeups: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self._held: dict[str, _Hold] = {}
        self._local: dict[str, LocalConsumer] = {}
        self._peers: Wakeups | None = None
        self.local_deliveries = 0
        """Messages handed to a local consumer (no receive) so far."""
        self._keeper: asyncio.Task[None] | None = None
        self.renewals = 0
        """Renewals of held messages so far (storage calls)."""
        self._deleting: set[asyncio.Task[None]] = set()
        self.stopping = False
        """Set by a stopping worker: a give-back is tried once, not retried past its deadline."""

    # -- wake-ups -------------------------------------------------------------------------------------

    def on_enqueue(self, queue: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` whenever this process sends to ``queue``; returns an unsubscribe function."""
        self._wakeups[queue].append(callback)
        return lambda: self._wakeups[queue].remove(callback)

    def on_local(self, queue: str, consumer: LocalConsumer) -> Callable[[], None]:
        """Deliver ``send(queue, ..., local=True)`` messages to ``consumer``; returns an unsubscribe function."""
        self._local[queue] = consumer

        def unsubscribe() -> None:
            if self._local.get(queue) is consumer:
                del self._local[queue]

        return unsubscribe

    def deliver_local(self, queue: str, inbound: Inbound) -> bool:
        """Hand a message this process holds to its consumer of ``queue`` without sending anything;
        False when nobody here consumes ``queue`` or it has no room. The held message stays the durable
        record: whoever processes it deletes it (or gives it back) as if it came from ``queue``."""
        consumer = self._local.get(queue)
        if consumer is None or inbound.data is None or not consumer.reserve(inbound.data):
            return False
        self.local_deliveries += 1
        consumer.take(inbound)
        return True

    def wake(self, queue: str) -> None:
        for cb in list(self._wakeups.get(queue, ())):
            cb()

    def notify(self, queue: str) -> None:
        """Wake the listeners of ``queue`` here and in the hub's other processes on this machine (what
        a visible send does, for a sender that sent with ``wake=False`` and is now ready for them)."""
        self.wake(queue)
        self.peers.poke(queue)

    @property
    def peers(self) -> Wakeups:
        """Wake-ups to and from the other processes of this hub on this machine."""
        if self._peers is None:
            try:  # the work-item queue's URL names the account and the hub
                key = str(self.storage._queue(self.names.work_item_queue).url)
            except Exception:
                key = self.names.work_item_queue
            self._peers = Wakeups(key, self.wake)
        return self._peers

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
        consumer = self._local.get(queue) if local and delay == 0 else None
        if consumer is not None and consumer.reserve(md):
            try:
                raw = await self.storage.send_message_held(queue, body, visibility_timeout=consumer.visibility)
            except BaseException:
                consumer.release()
                raise
            self.hold(raw, consumer.visibility)
            self.local_deliveries += 1
            consumer.take(Inbound(raw, md))
            return Sent(queue, blob)
        await self.storage.send_message(queue, body, visibility_timeout=delay)
        if delay == 0 and wake:
            self.notify(queue)
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
        if self._wakeups:  # a listening worker: other processes' sends wake it (taskhub.hub.wakeup)
            self.peers.listen()
        raws = await self.storage.receive_messages(queue, max_messages=max_messages, visibility_timeout=seconds)
        if hold:
            for r in raws:
                self.hold(r, seconds)
        return list(await asyncio.gather(*(self.decode(r) for r in raws)))

    # -- held messages -------------------------------------------------------------------------------

    def hold(self, inbound: Inbound | ReceivedMessage, visibility: int) -> None:
        """Keep the message hidden, renewing it to ``visibility`` s every ``visibility / 2`` s."""
        raw = inbound.raw if isinstance(inbound, Inbound) else inbound
        loop = asyncio.get_running_loop()
        self._held[raw.id] = _Hold(raw, visibility, loop.time() + visibility / 2)
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep(), name="held-messages")

    async def stop_holding(self, timeout: float | None = None) -> None:
        """Finish the deletes under way (for at most ``timeout`` s), then stop renewing everything (worker
        shutdown): what is still held reappears on its own."""
        if self._deleting:  # a delete cut short leaves its message to come back, dropped as a duplicate
            await asyncio.wait(set(self._deleting), timeout=timeout)
        for task in list(self._deleting):
            task.cancel()
        if self._peers is not None:
            self._peers.close()
        self._held.clear()
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None

    @property
    def held(self) -> int:
        return len(self._held)

    def let_go(self, messages: Iterable[Inbound | ReceivedMessage]) -> None:
        """Stop renewing (the messages come back when their visibility runs out, unless deleted)."""
        for m in messages:
            raw = m.raw if isinstance(m, Inbound) else m
            h = self._held.get(raw.id)
            if h is not None and h.raw is raw:
                del self._held[raw.id]

    async def _released(self, raw: ReceivedMessage) -> None:
        """Stop renewing ``raw`` and wait for a renewal in flight (it changes the pop receipt)."""
        h = self._held.get(raw.id)
        if h is None or h.raw is not raw:
            return
        del self._held[raw.id]
        if h.busy is not None:
            await asyncio.wait({h.busy})

    async def _keep(self) -> None:
        loop = asyncio.get_running_loop()
        while self._held:
            await asyncio.sleep(KEEPER_TICK)
            now = loop.time()
            for h in list(self._held.values()):
                if h.renew_at <= now and h.busy is None:
                    h.busy = asyncio.create_task(self._renew_held(h))

    async def _renew_held(self, h: _Hold) -> None:
        loop = asyncio.get_running_loop()
        try:
            await self.storage.update_message(h.raw, visibility_timeout=h.visibility)
            self.renewals += 1
            h.renew_at = loop.time() + h.visibility / 2
        except StorageError as err:
            if err.not_found:  # deleted, or taken by another worker after it reappeared
                log.info("queue.held_gone queue=%s message=%s", h.raw.queue, h.raw.id)
                if self._held.get(h.raw.id) is h:
                    del self._held[h.raw.id]
            else:
                self.storage.conditions.report(err, f"held messages: renewed again in {KEEPER_TICK:g} s")
                h.renew_at = loop.time() + KEEPER_TICK
        except Exception:
            log.exception("queue.renew_failed queue=%s message=%s", h.raw.queue, h.raw.id)
            h.renew_at = loop.time() + KEEPER_TICK
        finally:
            h.busy = None

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
        await self._released(raw)
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
        h = self._held.get(raw.id)
        if h is not None and h.raw is raw and h.busy is not None:
            await asyncio.wait({h.busy})
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
        await self._released(raw)
        try:
            await self.storage.delete_message(raw)
            return True
        except StorageError as err:
            if not err.not_found:
                raise
            log.info("queue.delete_gone queue=%s message=%s code=%s", raw.queue, raw.id, err.code)
            return False
