"""The client: queries with paging, purge, scheduled start, duplicate ids and re-creation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskhub.errors import OrchestrationAlreadyExistsError
from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import OrchestrationContext
from tests.e2e.conftest import E2E
from tests.format_check import read_history_rows

app = App()
COMPLETED = OrchestrationStatus.COMPLETED


@app.orchestrator
def echo(ctx: OrchestrationContext, value: Any) -> Any:
    return value


@app.orchestrator
def waits(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    return (yield ctx.wait_for_external_event("go"))


async def _run_all(e2e: E2E, ids: list[str], orchestrator: Any = echo) -> None:
    await asyncio.gather(
        *(e2e.client.schedule_new_orchestration(orchestrator, input=i, instance_id=i) for i in ids)
    )
    await asyncio.gather(*(e2e.client.wait_for_orchestration_completion(i, timeout=30) for i in ids))


async def test_query_filters_and_pages_with_continuation_tokens(e2e: E2E) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    ids = [f"q-{i:02}" for i in range(25)]
    await _run_all(e2e, ids)
    await e2e.client.schedule_new_orchestration(waits, instance_id="other-1")
    await e2e.client.wait_for_orchestration_start("other-1", timeout=20)

    pages, token = [], None
    while True:
        page = await e2e.client.query_orchestrations(
            instance_id_prefix="q-", page_size=10, continuation_token=token
        )
        pages.append([s.instance_id for s in page.items])
        token = page.continuation_token
        if not token:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    assert sorted(i for p in pages for i in p) == ids

    done = await e2e.client.query_orchestrations(statuses=[COMPLETED], page_size=100)
    assert sorted(s.instance_id for s in done.items) == ids and done.continuation_token is None
    running = await e2e.client.query_orchestrations(statuses=["Running", "Pending"])
    assert [s.instance_id for s in running.items] == ["other-1"]
    assert running.items[0].name == "waits"
    future = await e2e.client.query_orchestrations(created_from=datetime.now(UTC) + timedelta(minutes=5))
    assert future.items == []
    recent = await e2e.client.query_orchestrations(
        created_from=before, created_to=datetime.now(UTC) + timedelta(minutes=1)
    )
    assert len(recent.items) == 26
    await e2e.client.terminate_orchestration("other-1")
    await e2e.client.wait_for_orchestration_completion("other-1", timeout=20)


async def test_purge_one_instance_removes_history_row_and_blobs(e2e: E2E) -> None:
    big = "x" * (70 * 1024)  # large enough for both a message blob and history blobs
    iid = await e2e.client.schedule_new_orchestration(echo, input=big, instance_id="purge-me")
    keep = await e2e.client.schedule_new_orchestration(echo, input="small", instance_id="keep-me")
    for i in (iid, keep):
        assert (await e2e.client.wait_for_orchestration_completion(i, timeout=30)).runtime_status is COMPLETED
    hub = e2e.client.service.hub
    assert await hub.payloads.storage.list_blobs(hub.names.large_message_container, prefix="purge-me")

    result = await e2e.client.purge_orchestration(iid)

    assert result.deleted_instance_count == 1
    assert await e2e.client.get_orchestration_state(iid) is None
    assert [r for r in read_history_rows(hub) if r["PartitionKey"] == "purge-me"] == []
    assert await hub.payloads.storage.list_blobs(hub.names.large_message_container, prefix="purge-me") == []
    assert (await e2e.client.get_orchestration_state(keep)) is not None  # the other one stays
    assert (await e2e.client.purge_orchestration(iid)).deleted_instance_count == 0


async def test_purge_by_filter_removes_only_matching_finished_instances(e2e: E2E) -> None:
    start = datetime.now(UTC) - timedelta(seconds=5)
    ids = [f"p-{i}" for i in range(3)]
    await _run_all(e2e, ids)
    await e2e.client.schedule_new_orchestration(waits, instance_id="still-running")
    await e2e.client.wait_for_orchestration_start("still-running", timeout=20)

    result = await e2e.client.purge_orchestrations_by(created_from=start, statuses=[COMPLETED])

    assert result.deleted_instance_count == 3
    for i in ids:
        assert await e2e.client.get_orchestration_state(i) is None
    assert {r["PartitionKey"] for r in read_history_rows(e2e.client.service.hub)} == {"still-running"}
    running = await e2e.client.get_orchestration_state("still-running")
    assert running is not None and running.runtime_status is OrchestrationStatus.RUNNING
    # Running instances are never purged, whatever the filter says
    assert (
        await e2e.client.purge_orchestrations_by(created_from=start, statuses=["Running"])
    ).deleted_instance_count == 0
    await e2e.client.raise_orchestration_event("still-running", "go")
    await e2e.client.wait_for_orchestration_completion("still-running", timeout=20)


async def test_start_at_keeps_the_instance_pending_until_then(e2e: E2E) -> None:
    start_at = datetime.now(UTC) + timedelta(seconds=3)
    iid = await e2e.client.schedule_new_orchestration(echo, input="later", start_at=start_at)

    state = await e2e.client.get_orchestration_state(iid)
    assert state is not None and state.runtime_status is OrchestrationStatus.PENDING
    assert state.scheduled_start_at == start_at
    started = await e2e.client.wait_for_orchestration_start(iid, timeout=20)
    assert datetime.now(UTC) >= start_at
    assert started.runtime_status in (OrchestrationStatus.RUNNING, COMPLETED)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.output == "later"
    first = (await e2e.history(iid))[0]
    assert first.event_type is EventType.OrchestratorStarted and first.timestamp >= start_at


async def test_starting_a_running_id_raises_and_a_finished_one_restarts_as_a_new_generation(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(waits, instance_id="again")
    first = await e2e.client.wait_for_orchestration_start(iid, timeout=20)
    with pytest.raises(OrchestrationAlreadyExistsError):
        await e2e.client.schedule_new_orchestration(echo, instance_id="again")
    await e2e.client.raise_orchestration_event(iid, "go", data=1)
    done = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert done.output == 1 and done.generation == 0

    await e2e.client.schedule_new_orchestration(echo, input=2, instance_id="again")
    again = await e2e.client.wait_for_orchestration_completion("again", timeout=20)

    assert again.runtime_status is COMPLETED and again.output == 2 and again.name == "echo"
    assert again.generation == 1
    assert again.execution_id != first.execution_id
    history = await e2e.history("again")
    starts = [e for e in history if e.event_type is EventType.ExecutionStarted]
    assert len(starts) == 1 and starts[0].name == "echo" and starts[0].generation == 1
    assert not [e for e in history if e.event_type is EventType.EventRaised]
