"""Quiet Instances-row merges on a real Azurite: they wait, coalesce, and never overwrite a newer row."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from taskhub import Settings, TaskHub
from taskhub.format.history import utcnow
from tests.helpers import wait_for
from worker.instance_rows import InstanceRows

pytestmark = [pytest.mark.azurite]

T0 = utcnow().replace(microsecond=0)


def running(at_s: int, custom: str = "null") -> dict[str, Any]:
    """The columns a quiet episode merges (storage-format.md 5.2)."""
    return {
        "CustomStatus": custom,
        "ExecutionId": "e1",
        "LastUpdatedTime": T0 + timedelta(seconds=at_s),
        "TaskHubName": "h",
    }


def started(at_s: int) -> dict[str, Any]:
    return {**running(at_s), "RuntimeStatus": "Running", "Name": "orch", "CreatedTime": T0}


async def last_updated(hub: TaskHub, instance_id: str) -> Any:
    row = await hub.tracking.get_instance(instance_id)
    assert row is not None
    return row.last_updated_time


@pytest.mark.timeout(60)
async def test_quiet_merges_wait_and_only_the_last_is_written(settings: Settings) -> None:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        rows = InstanceRows(hub, coalesce=True, delay_s=0.5)
        await rows.merge("i1", started(0))  # not quiet: written at once
        assert await last_updated(hub, "i1") == T0

        for second in range(1, 6):
            await rows.merge("i1", running(second))
        assert (rows.deferred, rows.coalesced) == (5, 4)
        assert await last_updated(hub, "i1") == T0  # nothing written yet

        async def fifth() -> bool:
            return await last_updated(hub, "i1") == T0 + timedelta(seconds=5)

        await wait_for(fifth, timeout=10, interval=0.1, message="the last quiet merge written")
        await rows.close()


@pytest.mark.timeout(60)
async def test_a_new_custom_status_is_written_at_once(settings: Settings) -> None:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        rows = InstanceRows(hub, coalesce=True, delay_s=30)
        await rows.merge("i2", started(0))
        await rows.merge("i2", running(1))  # waits (30 s)
        await rows.merge("i2", running(2, custom='"approved"'))  # not quiet: settles the waiting one
        row = await hub.tracking.get_instance("i2")
        assert row is not None and row.custom_status == '"approved"'
        assert row.last_updated_time == T0 + timedelta(seconds=2)
        assert rows.deferred == 1
        await rows.close()


@pytest.mark.timeout(60)
async def test_a_row_written_by_someone_else_meanwhile_is_left_alone(settings: Settings) -> None:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        rows = InstanceRows(hub, coalesce=True, delay_s=30)
        await rows.merge("i3", started(0))
        await rows.merge("i3", running(1))  # waits
        # another worker took the instance over and completed it
        await hub.tracking.merge_instance("i3", {"RuntimeStatus": "Completed", "LastUpdatedTime": T0 + timedelta(9)})

        await rows.close()  # writes what waits, If-Match the ETag of our own last write: refused

        row = await hub.tracking.get_instance("i3")
        assert row is not None and row.runtime_status.value == "Completed"
        assert row.last_updated_time == T0 + timedelta(9)


@pytest.mark.timeout(60)
async def test_with_coalescing_off_every_merge_is_written_at_once(settings: Settings) -> None:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        rows = InstanceRows(hub, coalesce=False)
        await rows.merge("i4", started(0))
        await rows.merge("i4", running(1))
        assert rows.deferred == 0
        assert await last_updated(hub, "i4") == T0 + timedelta(seconds=1)
