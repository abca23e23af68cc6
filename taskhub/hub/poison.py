"""The poison queue ``{h}-poison``: messages that can never be processed, kept with why and from where.

DTFx leaves such messages retrying every 10 minutes forever (runtime.md 7.5). This hub moves them aside
instead, so nothing else is held up and nothing is lost: a message that cannot be decoded, or whose
processing failed ``poisonMessageThreshold`` times, is put on ``{h}-poison`` as a JSON record

``{"Reason", "OriginQueue", "OriginMessageId", "DequeueCount", "InsertedOn", "PoisonedAt", "Body"}``

(the original body kept verbatim), then deleted from its queue. ``taskhub poison list`` shows them and
``taskhub poison requeue ID`` puts one back on its original queue.

A move is a send, then a delete: a process that dies between the two leaves the message on its queue,
and whoever receives it next moves it again. So a message seen before (dequeued more than once) is
first looked for on the poison queue by its origin id and, when it is there, only deleted; and ``list``
and ``requeue`` treat records with the same origin queue and message id as one message.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from taskhub.errors import FormatError
from taskhub.format.history import utcnow
from taskhub.format.names import HubNames
from taskhub.format.timefmt import format_datetime, parse_datetime
from taskhub.hub.queues import HubQueues, Inbound
from taskhub.storage import ReceivedMessage, Storage
from taskhub.telemetry import metrics

__all__ = ["PoisonQueue", "PoisonRecord"]

log = logging.getLogger(__name__)

_PEEK_LIMIT = 32


@dataclass
class PoisonRecord:
    reason: str
    origin_queue: str
    origin_message_id: str
    dequeue_count: int
    body: str
    poisoned_at: datetime
    inserted_on: datetime | None = None
    message_id: str | None = None  # the id on the poison queue

    def to_json(self) -> str:
        return json.dumps(
            {
                "Reason": self.reason,
                "OriginQueue": self.origin_queue,
                "OriginMessageId": self.origin_message_id,
                "DequeueCount": self.dequeue_count,
                "InsertedOn": format_datetime(self.inserted_on) if self.inserted_on else None,
                "PoisonedAt": format_datetime(self.poisoned_at),
                "Body": self.body,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_message(cls, raw: ReceivedMessage) -> PoisonRecord:
        try:
            obj = json.loads(raw.content)
            return cls(
                reason=str(obj["Reason"]),
                origin_queue=str(obj["OriginQueue"]),
                origin_message_id=str(obj.get("OriginMessageId") or ""),
                dequeue_count=int(obj.get("DequeueCount") or 0),
                body=str(obj["Body"]),
                poisoned_at=parse_datetime(obj["PoisonedAt"]),
                inserted_on=parse_datetime(obj["InsertedOn"]) if obj.get("InsertedOn") else None,
                message_id=raw.id,
            )
        except (ValueError, KeyError, TypeError) as err:
            raise FormatError(f"poison queue message {raw.id} is not a poison record: {err}") from None

    @property
    def origin(self) -> tuple[str, str] | None:
        """What identifies the poisoned message itself (two records of one message share it)."""
        return (self.origin_queue, self.origin_message_id) if self.origin_message_id else None

    def summary(self) -> dict[str, object]:
        return {
            "id": self.message_id,
            "reason": self.reason,
            "originQueue": self.origin_queue,
            "originMessageId": self.origin_message_id,
            "dequeueCount": self.dequeue_count,
            "poisonedAt": format_datetime(self.poisoned_at),
            "body": self.body if len(self.body) <= 2000 else self.body[:2000] + "...",
        }


class PoisonQueue:
    def __init__(self, storage: Storage, names: HubNames, queues: HubQueues) -> None:
        self.storage = storage
        self.names = names
        self.queues = queues
        self._ready = False

    @property
    def queue(self) -> str:
        return self.names.poison_queue

    async def _ensure(self) -> None:
        if not self._ready:
            await self.storage.create_queue(self.queue)
            self._ready = True

    async def move(
        self, message: Inbound | ReceivedMessage, reason: str, *, delete: bool = True
    ) -> PoisonRecord:
        """Put the message on the poison queue with ``reason``, then (unless ``delete=False``, when the
        caller still has something to send first) delete it from its queue."""
        raw = message.raw if isinstance(message, Inbound) else message
        metrics.count("taskhub_poison_moves_total", queue=raw.queue)
        if raw.dequeue_count > 1:  # a process that died mid-move may have put it there already
            earlier = next((r for r in await self.list() if r.origin == (raw.queue, raw.id)), None)
            if earlier is not None:
                if delete:
                    await self.queues.delete(raw)
                log.warning(
                    "message.poisoned_already hub=%s queue=%s message_id=%s poison_id=%s",
                    self.names.hub,
                    raw.queue,
                    raw.id,
                    earlier.message_id,
                )
                return earlier
        record = PoisonRecord(
            reason=reason,
            origin_queue=raw.queue,
            origin_message_id=raw.id,
            dequeue_count=raw.dequeue_count,
            body=raw.content,
            poisoned_at=utcnow(),
            inserted_on=raw.inserted_on,
        )
        await self._ensure()
        await self.storage.send_message(self.queue, record.to_json())
        if delete:
            await self.queues.delete(raw)
        log.error(
            "message.poisoned hub=%s queue=%s message_id=%s dequeue_count=%d reason=%s",
            self.names.hub,
            raw.queue,
            raw.id,
            raw.dequeue_count,
            reason,
        )
        return record

    async def list(self) -> list[PoisonRecord]:
        """Up to 32 poisoned messages (peeked, nothing is taken), oldest first, each message once."""
        if self.queue not in await self.storage.list_queues(self.queue):
            return []
        records: list[PoisonRecord] = []
        seen: set[tuple[str, str]] = set()
        for m in await self.storage.peek_messages(self.queue, max_messages=_PEEK_LIMIT):
            record = PoisonRecord.from_message(m)
            if record.origin is not None:
                if record.origin in seen:
                    continue
                seen.add(record.origin)
            records.append(record)
        return records

    async def requeue(self, message_id: str) -> PoisonRecord:
        """Put one poisoned message back on the queue it came from (it is retried from scratch)."""
        # Receive (briefly hide) the visible poison messages to find the one with this id.
        held = await self.storage.receive_messages(
            self.queue, max_messages=_PEEK_LIMIT, visibility_timeout=30
        )
        records = [(raw, PoisonRecord.from_message(raw)) for raw in held]
        found = next((record for raw, record in records if raw.id == message_id), None)
        if found is None:
            await asyncio.gather(
                *(self.storage.update_message(raw, visibility_timeout=0) for raw, _ in records)
            )
            raise LookupError(f"no poisoned message with id {message_id!r} in {self.queue}")
        # a second record of the same message (a move interrupted by a crash) goes with it
        ours = [
            raw for raw, r in records if raw.id == message_id or (found.origin and r.origin == found.origin)
        ]
        others = [raw for raw, _ in records if raw not in ours]
        await asyncio.gather(*(self.storage.update_message(raw, visibility_timeout=0) for raw in others))
        await self.storage.send_message(found.origin_queue, found.body)
        for raw in ours:
            await self.storage.delete_message(raw)
        self.queues.wakeups.wake(found.origin_queue)
        log.info(
            "message.requeued hub=%s queue=%s message_id=%s", self.names.hub, found.origin_queue, message_id
        )
        return found
