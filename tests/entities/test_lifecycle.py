"""Delayed signals, deletion and cleaning of entity storage on Azurite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.model.entities import EntityId
from tests.entities.apps import app
from tests.entities.conftest import E2E
from tests.helpers import wait_for

pytestmark = [pytest.mark.timeout(180), pytest.mark.app(app)]


async def test_a_delayed_signal_runs_no_earlier_than_asked(e2e: E2E) -> None:
    clock = EntityId("clock", "c1")
    due = datetime.now(UTC) + timedelta(seconds=4)
    await e2e.client.signal_entity(clock, "tick", signal_time=due)
    await e2e.client.signal_entity(clock, "tick")  # at once: it runs first

    async def two() -> object:
        meta = await e2e.client.get_entity(clock)
        return meta is not None and len(meta.state) == 2 and meta.state

    ticks = await wait_for(two, 60, 0.2, message="both ticks ran")
    first, second = (datetime.fromisoformat(t) for t in ticks)
    assert first < due <= second


async def test_deleted_entity_is_gone_and_cleaning_removes_its_rows_after_the_window(e2e: E2E) -> None:
    c = EntityId("counter", "doomed")
    await e2e.client.signal_entity(c, "add", input=3)
    await wait_for(lambda: e2e.client.get_entity(c), 60, 0.2, message="the counter exists")
    await e2e.client.signal_entity(c, "delete")

    async def gone() -> bool:
        return await e2e.client.get_entity(c) is None

    await wait_for(gone, 60, 0.2, message="the counter is deleted")
    row = await e2e.client.service.hub.tracking.get_instance(str(c))
    assert row is not None and row.custom_status == "{}"  # rows stay until cleaned (entities.md 1.3)
    page = await e2e.client.query_entities(name="counter", include_deleted=True)
    assert [m.entity_id for m in page.items] == [c] and not page.items[0].exists
    assert (await e2e.client.query_entities(name="counter")).items == []

    within = await e2e.client.clean_entity_storage()  # the window is 30 minutes: too young to clean
    assert within.empty_entities_removed == 0
    assert await e2e.client.service.hub.tracking.get_instance(str(c)) is not None

    short = e2e.settings.with_overrides(entity_message_reorder_window=timedelta(seconds=1))
    async with TaskHubClient(short) as cleaner:

        async def cleaned() -> int:
            return (await cleaner.clean_entity_storage()).empty_entities_removed

        assert await wait_for(cleaned, 30, 0.5, message="the empty entity is cleaned") == 1
    assert await e2e.client.service.hub.tracking.get_instance(str(c)) is None
    assert await e2e.client.service.hub.tracking.history_row_keys(str(c)) == []


async def test_clean_releases_a_lock_whose_holder_is_gone(e2e: E2E) -> None:
    a = EntityId("account", "orphan")
    # a lock request from an orchestration that does not exist: the entity locks for it
    from taskhub.format.entities import RequestMessage, stamp_of

    now = stamp_of(datetime.now(UTC))
    lock = RequestMessage(
        id="l1", parent="ghost", parent_execution="e0", lockset=[("account", "orphan")], timestamp=now
    )
    await e2e.client._send_entity(str(a), "op", lock.to_json(), None)
    await e2e.client.signal_entity(a, "deposit", input=5)

    async def locked() -> object:
        row = await e2e.client.service.hub.tracking.get_instance(str(a))
        return row is not None and '"lockedBy":"ghost"' in row.custom_status

    await wait_for(locked, 60, 0.2, message="the entity is locked by ghost")
    result = await e2e.client.clean_entity_storage(remove_empty_entities=False)
    assert result.orphaned_locks_released == 1

    async def deposited() -> object:
        meta = await e2e.client.get_entity(a)
        return meta is not None and meta.state == {"balance": 5} and meta.locked_by is None

    await wait_for(deposited, 60, 0.2, message="the deposit ran after the release")
