"""The dashboard's fast history read on a real Azurite: the same rows, tokens and history as the SDK path.

``Storage.query_page_lean`` reads the table service's JSON itself and ``load_history_for_view`` pipelines
the pages; both must give exactly what ``query_page`` and ``Tracking.load_history`` give.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import EdmType, EntityProperty

from taskhub import Settings, StorageError, TaskHub
from taskhub.format.history import (
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    OrchestratorStartedEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TaskScheduledEvent,
)
from taskhub.format.types import FailureDetails
from taskhub.hub.history_view import load_history_for_view

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[TaskHub]:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        yield hub


def _steps(iid: str, execution: str, n: int, payload: str = '"x"') -> list[HistoryEvent]:
    events: list[HistoryEvent] = [
        OrchestratorStartedEvent(timestamp=T0),
        ExecutionStartedEvent(
            orchestration_instance=OrchestrationInstance(iid, execution),
            name="steps",
            input="1",
            timestamp=T0,
        ),
    ]
    for k in range(n):
        at = T0 + timedelta(seconds=k)
        events.append(TaskScheduledEvent(event_id=k, name="step", input=payload, timestamp=at))
        if k % 3 == 2:
            events.append(
                TaskFailedEvent(
                    task_scheduled_id=k,
                    reason="boom",
                    failure_details=FailureDetails("ValueError", "bad <input> ✓", "trace"),
                    timestamp=at,
                )
            )
        else:
            events.append(TaskCompletedEvent(task_scheduled_id=k, result=payload, timestamp=at))
    return events


async def test_lean_pages_give_the_sdk_rows_and_tokens(hub: TaskHub) -> None:
    t = "Lean" + uuid.uuid4().hex[:10]
    await hub.storage.create_table(t)
    when = datetime(2024, 5, 1, 12, 0, 1, 500000, tzinfo=UTC)
    for i in range(25):
        await hub.storage.insert_entity(
            t,
            {
                "PartitionKey": "p",
                "RowKey": f"{i:03d}",
                "N": i,
                "Big": EntityProperty(2**40 + i, EdmType.INT64),
                "On": i % 2 == 0,
                "When": when,
                "Ratio": i / 4,
                "Blob": b"\x00\xff" * i,
                "Text": f"<{i}> 'é' 😀",
            },
        )
    sdk, lean, token_sdk, token_lean = [], [], None, None
    while True:
        a = await hub.storage.query_page(t, "PartitionKey eq 'p'", page_size=10, continuation_token=token_sdk)
        b = await hub.storage.query_page_lean(
            t, "PartitionKey eq 'p'", page_size=10, continuation_token=token_lean
        )
        sdk += a.rows
        lean += b.rows
        assert a.continuation_token == b.continuation_token
        token_sdk, token_lean = a.continuation_token, b.continuation_token
        if not token_sdk:
            break
    assert len(lean) == 25
    assert lean == sdk
    assert [(r.etag, r.timestamp) for r in lean] == [(r.etag, r.timestamp) for r in sdk]
    assert lean[3]["Big"] == 2**40 + 3 and lean[3]["When"] == when and lean[3]["Blob"] == b"\x00\xff" * 3
    picked = await hub.storage.query_page_lean(t, "RowKey eq '007'", select=["RowKey", "N"])
    assert [dict(r) for r in picked.rows] == [{"RowKey": "007", "N": 7}]


async def test_a_bad_lean_query_is_a_storage_error(hub: TaskHub) -> None:
    with pytest.raises(StorageError):
        await hub.storage.query_page_lean("NoSuchTable" + uuid.uuid4().hex[:8], None)


async def test_view_read_equals_load_history_across_pages_blobs_and_leftovers(hub: TaskHub) -> None:
    big = json.dumps("a" * 31_000)  # goes to a blob (test_payloads)
    iid = "view#" + uuid.uuid4().hex[:6]
    old = _steps(iid, "old", 700)  # 1,402 rows: two pages
    etag, _ = await hub.tracking.write_history(iid, "old", old, first_sequence=0, etag=None)
    new = _steps(iid, "new", 500, payload='"y"')
    new[5] = TaskCompletedEvent(task_scheduled_id=1, result=big, timestamp=T0)
    new.append(ExecutionCompletedEvent(orchestration_status=OrchestrationStatus.COMPLETED, result="2"))
    etag, moved = await hub.tracking.write_history(iid, "new", new, first_sequence=0, etag=etag)
    assert moved  # one column went to a blob
    expected = await hub.tracking.load_history(iid)
    got = await load_history_for_view(hub.tracking, iid)
    assert len(expected.events) == len(new)  # the old execution's leftover rows are not history
    assert got == expected
    assert isinstance(got.events[5], TaskCompletedEvent) and got.events[5].result == big
    assert got.execution_id == "new" and got.etag == etag


async def test_view_read_of_an_unknown_instance_is_empty(hub: TaskHub) -> None:
    got = await load_history_for_view(hub.tracking, "nobody-" + uuid.uuid4().hex[:6])
    assert got.events == [] and got.etag is None and got.execution_id is None
