"""Held messages on a real Azurite: kept hidden past their visibility while held, back soon after."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from taskhub import Settings, TaskHub
from taskhub.storage import ReceivedMessage
from tests.helpers import wait_for

pytestmark = [pytest.mark.azurite]


async def _take(hub: TaskHub, queue: str) -> list[ReceivedMessage]:
    return await hub.storage.receive_messages(queue, max_messages=1, visibility_timeout=30)


@pytest.mark.timeout(60)
async def test_a_held_message_stays_hidden_while_renewed_and_returns_once_let_go(settings: Settings) -> None:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        queue = hub.names.work_item_queue
        await hub.storage.send_message(queue, "not a DTFx message")
        short = timedelta(seconds=4)
        (held,) = await hub.queues.receive(queue, max_messages=1, visibility_timeout=short, hold=True)
        assert hub.queues.held.count == 1
        await asyncio.sleep(10)  # 2.5 visibility timeouts
        assert await hub.storage.receive_messages(queue, max_messages=1, visibility_timeout=1) == []
        assert hub.queues.held.renewals >= 1  # about every 2 s (half the visibility)
        renewals = hub.queues.held.renewals
        hub.queues.held.let_go([held])
        again: list[ReceivedMessage] = await wait_for(
            lambda: _take(hub, queue),
            timeout=10,
            interval=0.2,
            message="the message reappears once let go",
        )
        assert again[0].id == held.raw.id
        assert again[0].dequeue_count == 2
        assert hub.queues.held.renewals == renewals
        await hub.queues.stop_holding()


@pytest.mark.timeout(60)
async def test_give_back_makes_a_held_message_visible_at_once(settings: Settings) -> None:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        queue = hub.names.work_item_queue
        await hub.storage.send_message(queue, "not a DTFx message")
        (held,) = await hub.queues.receive(
            queue, max_messages=1, visibility_timeout=timedelta(seconds=30), hold=True
        )
        assert await hub.queues.give_back(held, delay=0)
        assert hub.queues.held.count == 0
        again: list[ReceivedMessage] = await wait_for(
            lambda: _take(hub, queue),
            timeout=5,
            interval=0.1,
        )
        assert again[0].id == held.raw.id
