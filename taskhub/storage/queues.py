"""Queue operations of the storage seam."""

from __future__ import annotations

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from taskhub.storage.base import StorageBase
from taskhub.storage.errors import op
from taskhub.storage.types import ReceivedMessage

__all__ = ["QueueOps"]


class QueueOps(StorageBase):
    @op
    async def create_queue(self, name: str) -> bool:
        """Create a queue; False if it already existed."""
        try:
            await self._queue(name).create_queue()
            return True
        except ResourceExistsError:
            return False

    @op
    async def delete_queue(self, name: str) -> bool:
        """Delete a queue; False if there was none."""
        try:
            await self._queue(name).delete_queue()
            return True
        except ResourceNotFoundError:
            return False

    @op
    async def list_queues(self, prefix: str) -> list[str]:
        """Names of the queues starting with ``prefix``."""
        return [q.name async for q in self._queues.list_queues(name_starts_with=prefix)]

    @op
    async def send_message(self, queue: str, content: str, *, visibility_timeout: int = 0) -> None:
        """Put a message that never expires (ttl -1), invisible for ``visibility_timeout`` seconds."""
        lean = self._lean_queue(queue)
        if lean is not None:
            await lean.put(content, visibility_timeout=visibility_timeout or None)
            return
        await self._queue(queue).send_message(
            content, visibility_timeout=visibility_timeout or None, time_to_live=-1
        )

    @op
    async def send_message_held(self, queue: str, content: str, *, visibility_timeout: int) -> ReceivedMessage:
        """Put a message (ttl -1) hidden for ``visibility_timeout`` s and return it as held by this process
        (its id and pop receipt), as if it had been received: the sender can work on it, renew and delete
        it, and if the sender dies it becomes visible to everyone when the visibility runs out."""
        await self._intercept("send_message", (self, queue, content))  # faults planned for sends apply too
        lean = self._lean_queue(queue)
        if lean is not None:
            put = await lean.put(content, visibility_timeout=visibility_timeout)
            return ReceivedMessage(queue, put.id, put.pop_receipt, content, 0, put.inserted_on, put.next_visible_on)
        sent = await self._queue(queue).send_message(content, visibility_timeout=visibility_timeout, time_to_live=-1)
        return ReceivedMessage(
            queue=queue,
            id=sent.id,
            pop_receipt=sent.pop_receipt or "",
            content=content,
            dequeue_count=0,
            inserted_on=sent.inserted_on,
            next_visible_on=sent.next_visible_on,
        )

    @op
    async def receive_messages(
        self, queue: str, *, max_messages: int, visibility_timeout: int
    ) -> list[ReceivedMessage]:
        """Dequeue up to ``max_messages`` (one service call), hiding them for ``visibility_timeout`` s."""
        lean = self._lean_queue(queue)
        if lean is not None:
            got = await lean.get(max_messages=max_messages, visibility_timeout=visibility_timeout)
            return [
                ReceivedMessage(
                    queue, m.id, m.pop_receipt, m.content or "", m.dequeue_count, m.inserted_on, m.next_visible_on
                )
                for m in got
            ]
        paged = self._queue(queue).receive_messages(
            messages_per_page=max_messages, max_messages=max_messages, visibility_timeout=visibility_timeout
        )
        out: list[ReceivedMessage] = []
        async for page in paged.by_page():
            async for m in page:
                out.append(
                    ReceivedMessage(
                        queue=queue,
                        id=m.id,
                        pop_receipt=m.pop_receipt,
                        content=m.content if isinstance(m.content, str) else bytes(m.content).decode("utf-8"),
                        dequeue_count=m.dequeue_count or 0,
                        inserted_on=m.inserted_on,
                        next_visible_on=m.next_visible_on,
                    )
                )
            break
        return out

    @op
    async def update_message(self, message: ReceivedMessage, *, visibility_timeout: int) -> None:
        """Change a held message's visibility; updates ``message.pop_receipt`` and ``next_visible_on``."""
        lean = self._lean_queue(message.queue)
        if lean is not None:
            message.pop_receipt, message.next_visible_on = await lean.update(
                message.id, message.pop_receipt, visibility_timeout=visibility_timeout
            )
            return
        updated = await self._queue(message.queue).update_message(
            message.id, message.pop_receipt, visibility_timeout=visibility_timeout
        )
        message.pop_receipt = updated.pop_receipt
        message.next_visible_on = updated.next_visible_on

    @op
    async def delete_message(self, message: ReceivedMessage) -> None:
        """Delete a held message."""
        lean = self._lean_queue(message.queue)
        if lean is not None:
            await lean.delete(message.id, message.pop_receipt)
            return
        await self._queue(message.queue).delete_message(message.id, message.pop_receipt)

    @op
    async def peek_messages(self, queue: str, *, max_messages: int = 32) -> list[ReceivedMessage]:
        """Look at up to 32 visible messages without taking them (no pop receipt)."""
        msgs = await self._queue(queue).peek_messages(max_messages=max_messages)
        return [
            ReceivedMessage(
                queue, m.id, "", m.content, m.dequeue_count or 0, m.inserted_on, m.next_visible_on
            )
            for m in msgs
        ]

    @op
    async def queue_length(self, queue: str) -> int:
        """Approximate number of messages in a queue."""
        props = await self._queue(queue).get_queue_properties()
        return int(props.approximate_message_count or 0)
