"""Rewind (http-api.md 2.6, storage-format.md 4.7) and restart through the client."""

from __future__ import annotations

import asyncio

import pytest

from taskhub.client.sync_client import SyncTaskHubClient
from taskhub.errors import OrchestrationNotFoundError, OrchestrationStateError
from taskhub.format.history import OrchestrationStatus
from taskhub.format.names import escape_partition_key
from tests.newcomer.apps import app, expected_chain

pytestmark = pytest.mark.app(app)


async def history_rows(e2e, instance_id: str) -> list[dict]:
    hub = e2e.client.service.hub
    flt = f"PartitionKey eq '{escape_partition_key(instance_id)}'"
    rows = [r async for r in hub.storage.query(hub.names.history_table, flt)]
    return sorted((r for r in rows if r["RowKey"] != "sentinel"), key=lambda r: r["RowKey"])


async def test_rewind_reruns_the_failed_activity_and_completes(e2e) -> None:
    iid = await e2e.client.schedule_new_orchestration("flaky_chain", input=4)
    failed = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert failed.runtime_status is OrchestrationStatus.FAILED

    await e2e.client.rewind_orchestration(iid, reason="fixed the flaky service")
    done = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert done.runtime_status is OrchestrationStatus.COMPLETED
    assert done.output == expected_chain(4)

    rows = await history_rows(e2e, iid)
    rewound = [
        (r["EventId"], r["Reason"]) for r in rows if r["EventType"] == "GenericEvent" and r.get("Reason")
    ]
    # The failed TaskScheduled (EventId 1), its TaskFailed and the failed ExecutionCompleted keep their rows.
    assert [reason for _, reason in rewound] == [
        "Rewound: TaskScheduled",
        "Rewound: TaskFailed",
        "Rewound: ExecutionCompleted",
    ]
    assert rewound[0][0] == 1
    kinds = [r["EventType"] for r in rows]
    assert "TaskFailed" not in kinds
    assert kinds.count("ExecutionCompleted") == 1
    assert kinds[-2:] == ["ExecutionCompleted", "OrchestratorCompleted"]
    # The woken-up episode carries the client's GenericEvent(-1) with the reason as its data.
    assert any(r["EventType"] == "GenericEvent" and r.get("Data") == "fixed the flaky service" for r in rows)
    assert [r["EventId"] for r in rows if r["EventType"] == "TaskScheduled"] == [0, 1, 2]


async def test_rewind_reruns_a_failed_sub_orchestration(e2e) -> None:
    iid = await e2e.client.schedule_new_orchestration("flaky_parent", input=1)
    failed = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert failed.runtime_status is OrchestrationStatus.FAILED

    await e2e.client.rewind_orchestration(iid)
    done = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert done.runtime_status is OrchestrationStatus.COMPLETED
    assert done.output == {"child": expected_chain(2)}
    child = await e2e.client.get_orchestration_state(iid + ":child")
    assert child is not None and child.runtime_status is OrchestrationStatus.COMPLETED

    rows = await history_rows(e2e, iid)
    created = [r for r in rows if r["EventType"] == "SubOrchestrationInstanceCreated"]
    assert [r.get("Reason") for r in created] == ["Rewound: SubOrchestrationInstanceCreated"]
    assert "Rewound: SubOrchestrationInstanceFailed" in [r.get("Reason") for r in rows]


async def test_rewind_refuses_an_instance_that_did_not_fail(e2e) -> None:
    iid = await e2e.client.schedule_new_orchestration("flaky_chain", input=1)
    await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    await e2e.client.rewind_orchestration(iid)
    await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    with pytest.raises(OrchestrationStateError, match="only a Failed instance can be rewound") as err:
        await e2e.client.rewind_orchestration(iid)
    assert err.value.status == "Completed"
    with pytest.raises(OrchestrationNotFoundError):
        await e2e.client.rewind_orchestration("no-such-instance")


async def test_restart_with_and_without_a_new_id(e2e) -> None:
    iid = await e2e.client.schedule_new_orchestration("twice", input=5)
    first = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert (first.runtime_status, first.output) == (OrchestrationStatus.COMPLETED, 7)
    again = await e2e.client.restart_orchestration(iid)
    assert again != iid
    state = await e2e.client.wait_for_orchestration_completion(again, timeout=30)
    assert (state.name, state.input, state.output) == ("twice", 5, 7)
    same = await e2e.client.restart_orchestration(iid, new_instance_id=False)
    assert same == iid
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert (state.input, state.output, state.runtime_status) == (5, 7, OrchestrationStatus.COMPLETED)
    assert state.execution_id != first.execution_id  # a new execution of the same id


async def test_the_sync_client_rewinds_and_restarts(e2e) -> None:
    iid = await e2e.client.schedule_new_orchestration("flaky_chain", input=2)
    await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    def steer() -> str:
        with SyncTaskHubClient(e2e.settings) as sync:
            sync.rewind_orchestration(iid, reason="sync")
            sync.wait_for_orchestration_completion(iid, timeout=30)
            return sync.restart_orchestration(iid, new_instance_id=False)

    assert await asyncio.to_thread(steer) == iid
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert (state.runtime_status, state.output) == (OrchestrationStatus.COMPLETED, expected_chain(2))


async def test_raise_event_to_a_finished_instance_is_refused(e2e) -> None:
    iid = await e2e.client.schedule_new_orchestration("flaky_chain", input=1)
    await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    with pytest.raises(OrchestrationStateError) as err:
        await e2e.client.raise_orchestration_event(iid, "Approval", data=True)
    assert str(err.value) == (
        f"cannot raise event 'Approval' to orchestration {iid!r}: it is Failed; "
        "events reach only Pending, Running or Suspended instances"
    )
