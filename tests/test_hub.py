"""Hub lifecycle on a real Azurite: the exact resources, idempotence, concurrency, delete."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from datetime import UTC

import pytest

from taskhub import TaskHub
from taskhub.format.leases import LeaseBlob, TaskHubInfo


def expected_resources(hub: str, partitions: int = 4):
    h = hub.lower()
    queues = sorted([f"{h}-control-{i:02d}" for i in range(partitions)] + [f"{h}-workitems"])
    tables = sorted([f"{hub}History", f"{hub}Instances"])
    containers = sorted([f"{h}-applease", f"{h}-leases"])
    lease_blobs = sorted(
        ["taskhub.json"]
        + [f"intent/{h}-control-{i:02d}" for i in range(partitions)]
        + [f"ownership/{h}-control-{i:02d}" for i in range(partitions)]
    )
    return queues, tables, containers, lease_blobs


async def test_create_makes_exactly_the_dtfx_resources(settings, hub_name):
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        found = await hub.resources()
        queues, tables, containers, lease_blobs = expected_resources(hub_name)
        assert found.queues == queues
        assert found.tables == tables
        assert found.containers == containers
        h = hub_name.lower()
        assert found.blobs[f"{h}-leases"] == lease_blobs
        assert found.blobs[f"{h}-applease"] == [f"{h}-appleaseinfo"]

        s = hub.storage
        assert await s.download_blob(f"{h}-applease", f"{h}-appleaseinfo") == b"{}"
        info = json.loads(await s.download_blob(f"{h}-leases", "taskhub.json"))
        assert list(info) == ["TaskHubName", "CreatedAt", "PartitionCount"]
        assert info["TaskHubName"] == hub_name and info["PartitionCount"] == 4
        assert info["CreatedAt"].endswith("Z")
        raw = await s.download_blob(f"{h}-leases", f"ownership/{h}-control-02")
        assert raw == f'{{"PartitionId":"{h}-control-02","Owner":null,"Token":null,"Epoch":0}}'.encode()
        assert LeaseBlob.from_json(
            await s.download_blob(f"{h}-leases", f"intent/{h}-control-03")
        ) == LeaseBlob(f"{h}-control-03")


async def test_create_twice_is_idempotent_and_keeps_taskhub_json(settings):
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        first = await hub.storage.download_blob(hub.names.lease_container, "taskhub.json")
        before = await hub.resources()
    async with TaskHub(settings) as again:  # a new process-like instance, not the cached flag
        await again.create_if_not_exists()
        assert await again.resources() == before
        assert await again.storage.download_blob(again.names.lease_container, "taskhub.json") == first


async def test_hub_created_is_logged_only_when_the_hub_was_created(settings, hub_name, caplog):
    caplog.set_level(logging.DEBUG, logger="taskhub.hub.lifecycle")
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
    created = [r.getMessage() for r in caplog.records if r.getMessage().startswith("hub.created")]
    assert len(created) == 1 and f"hub={hub_name}" in created[0]
    caplog.clear()
    async with TaskHub(settings) as again:  # a worker starting on a hub that exists
        await again.create_if_not_exists()
    messages = [r.getMessage() for r in caplog.records]
    assert not any(m.startswith("hub.created") for m in messages), messages
    assert any(m.startswith(f"hub.ready hub={hub_name}") for m in messages), messages


async def test_partition_count_from_settings(settings, hub_name):
    s16 = settings.with_overrides(
        storage=settings.storage.__class__(**{**settings.storage.__dict__, "partition_count": 16})
    )
    async with TaskHub(s16) as hub:
        await hub.create_if_not_exists()
        found = await hub.resources()
        assert len([q for q in found.queues if "-control-" in q]) == 16
        assert found.queues[-2] == f"{hub_name.lower()}-control-15"
        info = TaskHubInfo.from_json(
            await hub.storage.download_blob(hub.names.lease_container, "taskhub.json")
        )
        assert info.partition_count == 16


async def test_stale_taskhub_json_is_overwritten(settings, hub_name):
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        stale = TaskHubInfo("OtherHub", info_time(), 2).to_json().encode()
        await hub.storage.upload_blob(hub.names.lease_container, "taskhub.json", stale)
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        info = TaskHubInfo.from_json(
            await hub.storage.download_blob(hub.names.lease_container, "taskhub.json")
        )
        assert (info.task_hub_name, info.partition_count) == (hub_name, 4)


def info_time():
    from datetime import datetime

    return datetime(2024, 5, 1, 12, 34, 56, 123456, tzinfo=UTC)


async def test_table_partition_management_uses_partitions_table(settings, hub_name):
    table_mode = settings.with_overrides(
        storage=settings.storage.__class__(
            **{**settings.storage.__dict__, "use_table_partition_management": True}
        )
    )
    async with TaskHub(table_mode) as hub:
        await hub.create_if_not_exists()
        found = await hub.resources()
        assert f"{hub_name}Partitions" in found.tables
        assert f"{hub_name.lower()}-leases" not in found.containers
        rows = [r async for r in hub.storage.query(f"{hub_name}Partitions", "PartitionKey eq ''")]
        assert sorted(r["RowKey"] for r in rows) == [f"{hub_name.lower()}-control-{i:02d}" for i in range(4)]
        assert all(r["IsDraining"] is False for r in rows)


async def test_delete_removes_everything_of_the_hub_and_nothing_else(settings, hub_name):
    neighbour = settings.with_overrides(hub_name=hub_name + "x")  # a name that shares the prefix
    async with TaskHub(settings) as hub, TaskHub(neighbour) as other:
        await hub.create_if_not_exists()
        await other.create_if_not_exists()
        # a large-message container exists once payloads were offloaded
        await hub.storage.create_container(hub.names.large_message_container)
        neighbour_before = await other.resources()

        deleted = await hub.delete()
        assert f"{hub_name.lower()}-largemessages" in deleted.containers
        assert (await hub.resources()).empty
        assert await other.resources() == neighbour_before
        await other.delete()
        assert (await other.resources()).empty


def test_concurrent_create_from_two_processes(settings, hub_name, azurite_connection_string, tmp_path):
    script = tmp_path / "create.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, sys
            import taskhub

            async def main():
                settings = taskhub.Settings.load(None)
                async with taskhub.TaskHub(settings) as hub:
                    await hub.create_if_not_exists()

            asyncio.run(main())
            """
        )
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AzureWebJobsStorage": azurite_connection_string,
        "AzureFunctionsJobHost__extensions__durableTask__hubName": hub_name,
        "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[1]),
    }
    procs = [
        subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.PIPE) for _ in range(2)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors

    import asyncio

    async def check():
        async with TaskHub(settings) as hub:
            return await hub.resources()

    found = asyncio.run(check())
    queues, tables, containers, lease_blobs = expected_resources(hub_name)
    assert (found.queues, found.tables, found.containers) == (queues, tables, containers)
    assert found.blobs[f"{hub_name.lower()}-leases"] == lease_blobs


def _cli(args, env_extra, cwd):
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[1]),
        **env_extra,
    }
    return subprocess.run(
        [sys.executable, "-m", "taskhub", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_cli_create_and_delete_task_hub(hub_name, azurite_connection_string, tmp_path):
    env = {"AzureWebJobsStorage": azurite_connection_string}
    created = _cli(["create-task-hub", "--task-hub-name", hub_name], env, tmp_path)
    assert created.returncode == 0, created.stderr
    out = json.loads(created.stdout)
    queues, tables, containers, _ = expected_resources(hub_name)
    assert (out["queues"], out["tables"], out["containers"]) == (queues, tables, containers)

    deleted = _cli(["delete-task-hub", "--task-hub-name", hub_name], env, tmp_path)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["deleted"]["queues"] == queues
    again = _cli(["delete-task-hub", "--task-hub-name", hub_name], env, tmp_path)
    assert json.loads(again.stdout)["deleted"]["queues"] == []


@pytest.mark.parametrize(
    ("host_json", "key_part"),
    [
        ({"version": "2.0", "extensions": {"durableTask": {"hubName": "my-hub"}}}, "hubName"),
        (
            {"version": "2.0", "extensions": {"durableTask": {"storageProvider": {"partitionCount": 17}}}},
            "partitionCount",
        ),
        (
            {
                "version": "2.0",
                "extensions": {"durableTask": {"storageProvider": {"controlQueueBatchSize": 64}}},
            },
            "controlQueueBatchSize",
        ),
        (
            {
                "version": "2.0",
                "extensions": {"durableTask": {"storageProvider": {"maxQueuePollingInterval": "soon"}}},
            },
            "maxQueuePollingInterval",
        ),
    ],
)
def test_cli_bad_configuration_is_one_line_naming_the_key(host_json, key_part, tmp_path):
    (tmp_path / "host.json").write_text(json.dumps(host_json))
    result = _cli(["create-task-hub"], {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert key_part in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_malformed_connection_string_names_the_setting_not_the_secret(tmp_path):
    result = _cli(
        ["create-task-hub"], {"AzureWebJobsStorage": "AccountName=x;AccountKey=c2VjcmV0;Nonsense"}, tmp_path
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "AzureWebJobsStorage" in result.stderr
    assert "c2VjcmV0" not in result.stderr
