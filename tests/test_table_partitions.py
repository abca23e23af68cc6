"""The table partition manager against Azurite: two loops racing over one ``{Hub}Partitions`` table, a
hub whose rows were written as DTFx writes them (docs/partition-table.md section 6) joined by a worker,
and the one-line refusal of a worker set for the other manager."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings
from taskhub.errors import ConfigurationError
from taskhub.format.history import OrchestrationStatus
from taskhub.hub.health import read_health
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.partition_table import manager_in_use
from taskhub.model.app import App
from taskhub.model.context import OrchestrationContext
from tests.format_check import check_hub_format, check_partition_rows
from tests.helpers import REPO_ROOT, wait_for
from worker import Worker
from worker.table_partitions import TablePartitionManager

app = App()
PREFIX = "AzureFunctionsJobHost__extensions__durableTask__"


@app.orchestrator
def hello(ctx: OrchestrationContext, name: str):  # type: ignore[no-untyped-def]
    return f"Hello {name}!"
    yield  # a generator: an orchestrator


def table_settings(settings: Settings, *, table: bool = True) -> Settings:
    storage = dataclasses.replace(
        settings.storage,
        use_table_partition_management=table,
        lease_acquire_interval=timedelta(milliseconds=300),
        lease_renew_interval=timedelta(seconds=1),
        lease_interval=timedelta(seconds=3),
    )
    return settings.with_overrides(storage=storage, max_queue_polling_interval=timedelta(milliseconds=500))


class Fake:
    """The worker's side of the callbacks: which queues a manager listens on (and never two at once)."""

    def __init__(self, name: str, shared: dict[str, str], overlaps: list[str]) -> None:
        self.name = name
        self.shared = shared
        self.overlaps = overlaps

    async def start(self, queue: str) -> None:
        if queue in self.shared:
            self.overlaps.append(f"{self.name} started {queue} while {self.shared[queue]} listens")
        self.shared[queue] = self.name

    async def stop(self, queue: str) -> None:
        if self.shared.get(queue) == self.name:
            del self.shared[queue]

    def kwargs(self) -> dict[str, Any]:
        return {
            "start_listening": self.start,
            "stop_listening": self.stop,
            "ownership_lost": self.stop,
            "is_busy": lambda q: False,
        }


async def test_two_loops_race_balance_two_two_and_hand_over_on_leave(settings: Settings) -> None:
    s = table_settings(settings)
    async with TaskHub(s) as hub:
        await hub.create_if_not_exists()
        shared: dict[str, str] = {}
        overlaps: list[str] = []
        a = TablePartitionManager(hub, "a", **Fake("a", shared, overlaps).kwargs())
        b = TablePartitionManager(hub, "b", **Fake("b", shared, overlaps).kwargs())
        a.start()
        b.start()
        try:
            await wait_for(lambda: len(a.owned) == 2 and len(b.owned) == 2, timeout=20, message="2/2")
            await wait_for(lambda: len(shared) == 4, timeout=10)
            view = await hub.partitions()
            assert sorted(p["ownership"]["owner"] for p in view) == ["a", "a", "b", "b"]  # type: ignore[index]
            assert all(p["manager"] == "table" for p in view)
            health = await read_health(hub)  # the dashboard's health page
            assert health.manager == "table" and health.workers == ["a", "b"]
            assert sorted(str(c.owner) for c in health.control_queues) == ["a", "a", "b", "b"]
            assert {c.lease_state for c in health.control_queues} == {"leased"}
            await a.shutdown(10)
            assert a.owned_queues() == []
            await wait_for(lambda: len(b.owned) == 4 and len(shared) == 4, timeout=15, message="b takes all")
            assert set(shared.values()) == {"b"}
        finally:
            await a.shutdown(1)
            await b.shutdown(5)
        assert overlaps == []
        rows = [r async for r in hub.storage.query(hub.names.partitions_table, "PartitionKey eq ''")]
        assert all("CurrentOwner" not in r and r["IsDraining"] is False for r in rows)


async def test_four_loops_settle_at_one_queue_each(settings: Settings) -> None:
    s = table_settings(settings)
    async with TaskHub(s) as hub:
        await hub.create_if_not_exists()
        shared: dict[str, str] = {}
        overlaps: list[str] = []
        managers = [
            TablePartitionManager(hub, name, **Fake(name, shared, overlaps).kwargs()) for name in "abcd"
        ]
        for m in managers:
            m.start()
        try:
            await wait_for(lambda: all(len(m.owned) == 1 for m in managers), timeout=30, message="1 each")
            await wait_for(lambda: len(shared) == 4, timeout=10)
            assert sorted(shared.values()) == list("abcd")
        finally:
            for m in managers:
                await m.shutdown(5)
        assert overlaps == []


async def _write_dtfx_rows(hub: TaskHub, now: datetime) -> None:
    """Rows as DTFx's TablePartitionManager leaves them: 00 held by a worker that died (expired),
    01 held by a live DTFx worker, 02 and 03 as created (keys and IsDraining only)."""
    names = hub.names
    await hub.storage.create_table(names.partitions_table)
    queues = names.control_queues
    held = {
        queues[0]: ("web-1", now - timedelta(minutes=5), now - timedelta(seconds=40)),
        queues[1]: ("web-2", now - timedelta(minutes=5), now - timedelta(seconds=1)),
    }
    for q in queues:
        await hub.storage.create_queue(q)
        row: dict[str, Any] = {"PartitionKey": "", "RowKey": q}
        if q in held:
            owner, since, renewed = held[q]
            row |= {"CurrentOwner": owner, "OwnedSince": since, "LastRenewal": renewed}
            row["ExpiresAt"] = renewed + timedelta(seconds=30)
        row["IsDraining"] = False
        await hub.storage.insert_entity(names.partitions_table, row)


async def test_worker_joins_a_hub_whose_rows_dtfx_wrote_and_a_blob_worker_refuses(settings: Settings) -> None:
    s = table_settings(settings)
    async with TaskHub(s) as hub:
        await _write_dtfx_rows(hub, datetime.now(UTC))
        assert await manager_in_use(hub.storage, hub.names) == "table"
        blob_worker = Worker(app, table_settings(settings, table=False), worker_id="blob-1")
        with pytest.raises(ConfigurationError) as info:
            await blob_worker.start()
        await blob_worker.stop()
        message = str(info.value)
        assert "\n" not in message
        assert "useTablePartitionManagement" in message and "Partitions table" in message
        assert "lease blobs" in message and f"{hub.names.partitions_table} has rows" in message

        worker = Worker(app, s, worker_id="py-1")
        await worker.start()
        try:
            q = hub.names.control_queues
            await wait_for(lambda: worker.owned_queues == [q[0], q[2], q[3]], timeout=20)
            raw = await hub.storage.get_entity(hub.names.partitions_table, "", q[0])
            assert raw is not None
            assert set(raw) == {
                "PartitionKey",
                "RowKey",
                "CurrentOwner",
                "OwnedSince",
                "LastRenewal",
                "ExpiresAt",
                "IsDraining",
            }
            assert raw["CurrentOwner"] == "py-1" and raw["IsDraining"] is False
            assert all(isinstance(raw[c], datetime) for c in ("OwnedSince", "LastRenewal", "ExpiresAt"))
            live = await hub.storage.get_entity(hub.names.partitions_table, "", q[1])
            assert live is not None and live["CurrentOwner"] == "web-2"  # a live lease is not claimed
            async with TaskHubClient(s) as client:
                for i in range(6):  # instances on several queues, among them the ones py-1 owns
                    iid = f"join-{i}"
                    if hub.names.control_queue_for(iid) == q[1]:
                        continue
                    await client.schedule_new_orchestration("hello", input="DTFx", instance_id=iid)
                    done = await client.wait_for_orchestration_completion(iid, timeout=30)
                    assert done.runtime_status is OrchestrationStatus.COMPLETED
        finally:
            await worker.stop()


async def test_table_worker_refuses_a_hub_whose_lease_blobs_are_held(settings: Settings) -> None:
    blobs = table_settings(settings, table=False)
    blob_worker = Worker(app, blobs, worker_id="blob-1")
    await blob_worker.start()
    try:
        async with TaskHub(blobs) as hub:
            await wait_for(lambda: manager_in_use(hub.storage, hub.names), timeout=20)
            assert await manager_in_use(hub.storage, hub.names) == "blobs"
        table_worker = Worker(app, table_settings(settings), worker_id="table-1")
        with pytest.raises(ConfigurationError) as info:
            await table_worker.start()
        await table_worker.stop()
        message = str(info.value)
        assert "\n" not in message
        assert "its lease blobs are held" in message and "set for the Partitions table" in message
        assert "set it to false" in message
        assert message.startswith("extensions.durableTask.storageProvider.useTablePartitionManagement")
    finally:
        await blob_worker.stop()


async def test_create_and_delete_task_hub_make_and_remove_the_table_with_one_row_per_queue(
    settings: Settings,
) -> None:
    s = table_settings(settings)
    async with TaskHub(s) as hub:
        await hub.create_if_not_exists()
        rows = [r async for r in hub.storage.query(hub.names.partitions_table, "PartitionKey eq ''")]
        assert sorted(r["RowKey"] for r in rows) == hub.names.control_queues
        assert all(set(r) == {"PartitionKey", "RowKey", "IsDraining"} for r in rows)
        assert await asyncio.wait_for(manager_in_use(hub.storage, hub.names), 10) == "table"
        deleted = await hub.delete()
        assert hub.names.partitions_table in deleted.tables
        assert await manager_in_use(hub.storage, hub.names) is None


async def test_format_check_reads_the_partitions_table_a_worker_left(settings: Settings) -> None:
    s = table_settings(settings)
    worker = Worker(app, s, worker_id="py-1")
    await worker.start()
    try:
        await wait_for(lambda: len(worker.owned_queues) == 4, timeout=20)
    finally:
        await worker.stop()
    async with TaskHub(s) as hub:
        report = await check_hub_format(hub)
        assert report.partition_rows == 4


def test_format_check_flags_a_partitions_row_not_written_as_dtfx_writes_it() -> None:
    queues = ["h-control-00", "h-control-01"]
    good = {"PartitionKey": "", "RowKey": "h-control-00", "IsDraining": False}
    problems: list[str] = []
    check_partition_rows([good, {**good, "RowKey": "h-control-01"}], queues, problems)
    assert problems == []
    bad = {
        "PartitionKey": "",
        "RowKey": "h-control-01",
        "CurrentOwner": "w",
        "ExpiresAt": "soon",
        "IsDraining": False,
    }
    check_partition_rows([good, bad], queues, problems)
    assert problems == ["Partitions row 'h-control-01': column ExpiresAt should be datetime, got str 'soon'"]
    problems.clear()
    check_partition_rows([good], queues, problems)
    assert problems and "control queues" in problems[0]


async def test_taskhub_worker_set_for_lease_blobs_refuses_a_table_hub_with_one_line(
    settings: Settings, azurite_connection_string: str, tmp_path: Path
) -> None:
    async with TaskHub(table_settings(settings)) as hub:
        await hub.create_if_not_exists()
        hub_name = hub.names.hub
    host_json = tmp_path / "host.json"
    host_json.write_text('{"version": "2.0"}\n')
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("azurefunctionsjobhost")}
    env |= {"AzureWebJobsStorage": azurite_connection_string, PREFIX + "hubName": hub_name}
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "taskhub", "worker", "tests.test_table_partitions:app"),
        *("--host-json", str(host_json)),
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode != 0
    lines = [line for line in err.decode().splitlines() if not line.startswith("taskhub: hub ")]
    refusal = [line for line in lines if "useTablePartitionManagement" in line]
    assert len(refusal) == 1 and "Traceback" not in err.decode(), err.decode()
    assert refusal[0] == (  # as the README shows it
        "taskhub: configuration error: extensions.durableTask.storageProvider.useTablePartitionManagement: "
        f"False is invalid: task hub {hub_name} balances its partitions with the Partitions table (table "
        f"{hub_name}Partitions has rows) but this worker is set for lease blobs; one manager per hub: set it to true"
    )


async def test_a_dtfx_worker_shutting_down_hands_its_row_over_through_next_owner(settings: Settings) -> None:
    """DTFx's side done by hand: web-3 owns every row and drains them for shutdown (IsDraining, no
    NextOwner); our worker steals them (NextOwner = it); web-3 releases (CurrentOwner null); ours claims."""
    s = table_settings(settings)
    async with TaskHub(s) as hub:
        await hub.create_if_not_exists()
        table = hub.names.partitions_table
        now = datetime.now(UTC)
        for q in hub.names.control_queues:
            row = {"PartitionKey": "", "RowKey": q, "CurrentOwner": "web-3", "OwnedSince": now}
            row |= {"LastRenewal": now, "ExpiresAt": now + timedelta(minutes=5), "IsDraining": True}
            await hub.storage.upsert_entity(table, row, mode="replace")
        worker = Worker(app, s, worker_id="py-1")
        await worker.start()
        try:

            async def stolen() -> bool:
                rows = [r async for r in hub.storage.query(table, "PartitionKey eq ''")]
                return all(r.get("NextOwner") == "py-1" and r["CurrentOwner"] == "web-3" for r in rows)

            await wait_for(stolen, timeout=20, message="py-1 set NextOwner on every draining row")
            assert worker.owned_queues == []  # not before web-3 lets go
            async for r in hub.storage.query(table, "PartitionKey eq ''"):
                released = {k: v for k, v in r.items() if k != "CurrentOwner"} | {"IsDraining": False}
                await hub.storage.update_entity(table, released, etag=r.etag, mode="replace")
            await wait_for(lambda: worker.owned_queues == hub.names.control_queues, timeout=20)
            rows = [r async for r in hub.storage.query(table, "PartitionKey eq ''")]
            assert {(r["CurrentOwner"], r.get("NextOwner"), r["IsDraining"]) for r in rows} == {
                ("py-1", None, False)
            }
        finally:
            await worker.stop()
