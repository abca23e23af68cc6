"""Local delivery: when this process consumes a queue itself and has room, a message it sends there is
still written (the durable record) but hidden and held by the sender, and handed to the local consumer
at once: no receive, no poll delay. If the process dies, the message becomes visible after the held
visibility and any worker takes it, as after a receive.
"""

from __future__ import annotations

from collections.abc import Callable

from taskhub.hub.inbound import Inbound, LocalConsumer

__all__ = ["LocalDispatch"]


class LocalDispatch:
    """This process's consumers of its own messages, one per queue."""

    def __init__(self) -> None:
        self._consumers: dict[str, LocalConsumer] = {}
        self.deliveries = 0
        """Messages handed to a local consumer (no receive) so far."""
        self.by_queue: dict[str, int] = {}
        """:attr:`deliveries` by queue (the work-item queue: activities; control queues: their results)."""

    def subscribe(self, queue: str, consumer: LocalConsumer) -> Callable[[], None]:
        """Deliver ``send(queue, ..., local=True)`` messages to ``consumer``; returns an unsubscribe function."""
        self._consumers[queue] = consumer

        def unsubscribe() -> None:
            if self._consumers.get(queue) is consumer:
                del self._consumers[queue]

        return unsubscribe

    def consumer(self, queue: str) -> LocalConsumer | None:
        return self._consumers.get(queue)

    def deliver(self, queue: str, inbound: Inbound) -> bool:
        """Hand a message this process holds to its consumer of ``queue`` without sending anything;
        False when nobody here consumes ``queue`` or it has no room. The held message stays the durable
        record: whoever processes it deletes it (or gives it back) as if it came from ``queue``."""
        consumer = self._consumers.get(queue)
        if consumer is None or inbound.data is None or not consumer.reserve(inbound.data):
            return False
        self.counted(queue)
        consumer.take(inbound)
        return True

    def counted(self, queue: str) -> None:
        """One more message handed to the local consumer of ``queue``."""
        self.deliveries += 1
        self.by_queue[queue] = self.by_queue.get(queue, 0) + 1
