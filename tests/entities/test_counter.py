"""Many callers on one counter: orchestrations calling while the client signals; nothing lost, nothing twice."""

from __future__ import annotations

import asyncio

import pytest

from taskhub.model.entities import EntityId
from tests.entities.apps import app
from tests.entities.conftest import E2E
from tests.helpers import wait_for

pytestmark = [pytest.mark.timeout(300), pytest.mark.app(app)]


async def test_20_orchestrations_and_100_client_signals_end_with_exactly_300(e2e: E2E) -> None:
    counter = EntityId("counter", "shared")
    ids = await asyncio.gather(
        *(
            e2e.client.schedule_new_orchestration("add_many", input={"key": "shared", "times": 10})
            for _ in range(20)
        )
    )
    await asyncio.gather(*(e2e.client.signal_entity(counter, "add", input=1) for _ in range(100)))
    for iid in ids:
        state = await e2e.client.wait_for_orchestration_completion(iid, timeout=240)
        assert state is not None and state.runtime_status.value == "Completed", state
        assert 10 <= state.output <= 300

    async def total() -> object:
        meta = await e2e.client.get_entity(counter)
        return meta is not None and meta.backlog_queue_size == 0 and meta.state == 300 and meta

    meta = await wait_for(total, 120, 0.2, message="the counter reaches 300")
    assert meta.locked_by is None


async def test_each_of_30_orchestrations_counts_its_own_counter_to_exactly_10(e2e: E2E) -> None:
    ids = await asyncio.gather(
        *(
            e2e.client.schedule_new_orchestration("add_many", input={"key": f"own{i}", "times": 10})
            for i in range(30)
        )
    )
    outputs = []
    for iid in ids:
        state = await e2e.client.wait_for_orchestration_completion(iid, timeout=240)
        assert state is not None and state.runtime_status.value == "Completed", state
        outputs.append(state.output)
    assert outputs == [10] * 30
