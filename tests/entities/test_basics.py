"""Entities end to end on Azurite: auto-start, signals, calls, failures, rows in the DF format."""

from __future__ import annotations

import json

import pytest

from taskhub.format.entity_state import SchedulerState
from taskhub.model.entities import EntityId
from tests.entities.apps import app
from tests.entities.conftest import E2E
from tests.helpers import wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.app(app)]


async def value_of(e2e: E2E, entity: EntityId) -> object:
    meta = await e2e.client.get_entity(entity)
    return None if meta is None else meta.state


async def test_signals_auto_start_the_entity_and_the_rows_follow_the_format(e2e: E2E) -> None:
    c = EntityId("Counter", "k1")
    for i in range(5):
        await e2e.client.signal_entity(c, "add", input=i + 1)
    await wait_for(lambda: _equals(e2e, c, 15), 30, message="counter reaches 15")
    row = await e2e.client.service.hub.tracking.get_instance("@counter@k1")
    assert row is not None and row.name == "@counter@k1" and row.runtime_status.value == "Running"
    assert row.custom_status == '{"entityExists":true}'
    state = SchedulerState.from_json(row.input)
    assert state.exists and state.state == "15" and state.queue == []
    history = await e2e.client.service.hub.tracking.load_history("@counter@k1")
    assert [e.event_type.name for e in history.events] == [
        "OrchestratorStarted",
        "ExecutionStarted",
        "OrchestratorCompleted",
    ]
    assert history.events[1].input == row.input and history.execution_id == row.execution_id
    keys = await e2e.client.service.hub.tracking.history_row_keys("@counter@k1")
    assert sorted(keys) == ["0000000000000000", "0000000000000001", "0000000000000002", "sentinel"]
    page = await e2e.client.query_orchestrations()
    assert all(not s.instance_id.startswith("@") for s in page.items)


async def _equals(e2e: E2E, entity: EntityId, expected: object) -> bool:
    return await value_of(e2e, entity) == expected


async def test_orchestration_calls_get_results_and_failures(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(
        "add_many", input={"key": "k2", "times": 3, "amount": 2}
    )
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=60)
    assert state is not None and state.output == 6
    history = await e2e.history(iid)
    sent = [e for e in history if e.event_type.name == "EventSent"]
    first = json.loads(sent[0].input)  # type: ignore[attr-defined]
    assert list(first) == ["op", "input", "id", "parent", "parentExecution", "Timestamp", "Predecessor"]
    assert first["parent"] == iid and first["parentExecution"] == state.execution_id
    failing = await e2e.client.schedule_new_orchestration("call_failing", input="k2")
    failed = await e2e.client.wait_for_orchestration_completion(failing, timeout=60)
    assert failed is not None and failed.output == {
        "error": "this operation always fails",
        "type": "ValueError",
    }
    assert await value_of(e2e, EntityId("counter", "k2")) == 6  # the failed operation was rolled back


async def test_get_entity_of_a_missing_entity_is_none(e2e: E2E) -> None:
    assert await e2e.client.get_entity(EntityId("counter", "never")) is None


async def test_a_large_state_goes_to_a_blob_and_reads_back(e2e: E2E) -> None:
    big = "x" * 100_000  # more than a table column holds: the state is offloaded (storage-format.md 4.4)
    s = EntityId("store", "big")
    await e2e.client.signal_entity(s, "set", input=big)

    async def stored() -> object:
        meta = await e2e.client.get_entity(s)
        return meta is not None and meta.state == big

    await wait_for(stored, 60, 0.2, message="the large state is readable")
    row = await e2e.client.service.hub.tracking.get_instance(str(s))
    assert row is not None and row.input is not None and row.input.startswith("http")
    iid = await e2e.client.schedule_new_orchestration("read_store", input="big")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=60)
    assert state is not None and state.output == 100_000  # the worker read the state back from the blob too


async def test_the_sync_client_signals_and_reads_entities(e2e: E2E) -> None:
    from taskhub.client.sync_client import SyncTaskHubClient

    with SyncTaskHubClient(e2e.settings) as sync:
        sync.signal_entity(EntityId("counter", "sync"), "add", input=2)  # type: ignore[attr-defined]
        await wait_for(lambda: e2e.client.get_entity(EntityId("counter", "sync")), 60, 0.2, message="it ran")
        meta = sync.get_entity("@counter@sync")  # type: ignore[attr-defined]
    assert meta is not None and meta.state == 2
