"""What a hub's queues hand out: a received message with what it decoded to (:class:`Inbound`), and who
takes the messages this process sends itself (:class:`LocalConsumer`, ``taskhub.hub.local``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from taskhub.format.history import HistoryEvent, OrchestrationInstance, utcnow
from taskhub.format.messages import MessageData
from taskhub.storage import ReceivedMessage

__all__ = ["Inbound", "LocalConsumer"]


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

    @property
    def message_id(self) -> str:
        return self.raw.id

    @property
    def identity(self) -> str:
        """The message itself, whichever queue message carries it: its ActivityId and the sender's sequence
        number, which a copy put back in its place (``worker.backends.azure_storage.work_items.put_back_uncounted``)
        keeps, while its queue message id and insertion time are new."""
        if self.data is None:
            return self.raw.id
        return f"{self.data.activity_id}:{self.data.sequence_number}"

    @property
    def dequeue_count(self) -> int:
        return self.raw.dequeue_count

    @property
    def order_key(self) -> tuple[datetime, int]:
        """Where it sorts in a batch: when it was enqueued, then the sender's sequence number."""
        return (self.raw.inserted_on or utcnow(), self.data.sequence_number if self.data else 0)


@dataclass
class LocalConsumer:
    """Who takes locally delivered messages of a queue in this process (``taskhub.hub.local``).

    ``reserve(data)`` says whether it takes this message and has room now (and keeps that room);
    ``take(inbound)`` gets the held message; ``release()`` gives the room back when the send failed.
    """

    visibility: int
    reserve: Callable[[MessageData], bool]
    take: Callable[[Inbound], None]
    release: Callable[[], None]
