"""The poison queue on a real Azurite: a move interrupted by a crash does not show a message twice."""

from __future__ import annotations

import pytest

from taskhub import Settings, TaskHub
from taskhub.format.history import utcnow
from taskhub.hub.poison import PoisonRecord
from taskhub.storage import ReceivedMessage

pytestmark = [pytest.mark.azurite]


async def _receive_one(hub: TaskHub, queue: str) -> ReceivedMessage:
    (raw,) = await hub.storage.receive_messages(queue, max_messages=1, visibility_timeout=30)
    return raw


@pytest.mark.timeout(60)
async def test_a_move_cut_short_by_a_crash_is_finished_not_repeated(settings: Settings) -> None:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        queue = hub.names.control_queue(0)
        await hub.storage.send_message(queue, "garbage {")
        first = await _receive_one(hub, queue)
        # the process sent the record, then died before deleting the message
        await hub.poison.move(first, "cannot be decoded", delete=False)
        await hub.storage.update_message(first, visibility_timeout=0)  # its visibility ran out
        again = await _receive_one(hub, queue)
        assert (again.id, again.dequeue_count) == (first.id, 2)

        record = await hub.poison.move(again, "cannot be decoded")

        assert record.dequeue_count == 1  # the record the first attempt wrote
        assert await hub.storage.peek_messages(queue, max_messages=32) == []
        raw_records = await hub.storage.peek_messages(hub.names.poison_queue, max_messages=32)
        assert len(raw_records) == 1
        assert [(r.origin_queue, r.origin_message_id) for r in await hub.poison.list()] == [(queue, first.id)]


@pytest.mark.timeout(60)
async def test_two_records_of_one_message_are_listed_and_requeued_as_one(settings: Settings) -> None:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        queue = hub.names.work_item_queue
        await hub.storage.create_queue(hub.names.poison_queue)

        def record(origin_id: str, body: str) -> str:
            return PoisonRecord("failed", queue, origin_id, 7, body, utcnow()).to_json()

        for text in (record("m-1", "one"), record("m-1", "one"), record("m-2", "two")):
            await hub.storage.send_message(hub.names.poison_queue, text)

        listed = await hub.poison.list()
        assert [(r.origin_message_id, r.body) for r in listed] == [("m-1", "one"), ("m-2", "two")]

        assert listed[0].message_id is not None
        await hub.poison.requeue(listed[0].message_id)

        assert [m.content for m in await hub.storage.peek_messages(queue, max_messages=32)] == ["one"]
        left = await hub.poison.list()
        assert [r.origin_message_id for r in left] == ["m-2"]
        assert len(await hub.storage.peek_messages(hub.names.poison_queue, max_messages=32)) == 1
