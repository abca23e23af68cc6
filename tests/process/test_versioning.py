"""Orchestration versioning with real worker processes: old and new code side by side on one hub.

One control queue (``partitionCount`` 1), so every instance shares the partition of the one at 2.0.
A worker at ``defaultVersion`` 1.0 runs alone first: the 1.0 instances complete while the 2.0 one is
left alone (Reject: it stays Pending and the worker logs its rejections; Fail: it fails with
``VersionMismatch`` naming both versions), and the worker stays healthy. Then a worker at 2.0 joins and
the 1.0 worker retires (SIGTERM, so its lease is released): the 2.0 instance completes there and sees
``ctx.version == "2.0"``, as does its sub-orchestration. A 1.0 instance started now runs on the 2.0
worker under CurrentOrOlder, and is left alone under Strict.

``poisonMessageThreshold`` is 2 and the 2.0 instance is rejected more often than that before the new
worker takes it: rejections do not count toward poison, so nothing lands in the poison queue.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.format.history import OrchestrationStatus
from tests.helpers import wait_for
from tests.process.harness import ENV_PREFIX, Fleet, hub_env, settings_of

pytestmark = [pytest.mark.slow]

APP = "tests.process.version_apps:app"


def _rejections(fleet: Fleet, instance_id: str, worker_id: str | None = None) -> int:
    return sum(
        1
        for line in fleet.logs()
        if line.event == "orchestration.version_rejected"
        and line.fields.get("instance_id") == instance_id
        and (worker_id is None or line.proc.worker_id == worker_id)
    )


def _checkpointed_by(fleet: Fleet, instance_id: str) -> set[str]:
    return {
        line.proc.worker_id
        for line in fleet.logs()
        if line.event == "orchestration.checkpoint" and line.fields.get("instance_id") == instance_id
    }


async def _completed(client: TaskHubClient, instance_id: str, timeout: float = 60) -> Any:
    state = await client.wait_for_orchestration_completion(instance_id, timeout=timeout)
    assert state.runtime_status is OrchestrationStatus.COMPLETED, (instance_id, state)
    return state.output


@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    ("match", "failure"), [("CurrentOrOlder", "Reject"), ("Strict", "Reject"), ("CurrentOrOlder", "Fail")]
)
async def test_a_new_version_beside_the_old_one(
    azurite_connection_string: str, hub_name: str, tmp_path: Path, match: str, failure: str
) -> None:
    env = hub_env(azurite_connection_string, hub_name, storage={"partitionCount": "1", "poisonMessageThreshold": "2"})
    env[ENV_PREFIX + "defaultVersion"] = "1.0"
    env[ENV_PREFIX + "versionMatchStrategy"] = match
    env[ENV_PREFIX + "versionFailureStrategy"] = failure
    fleet = Fleet(env, tmp_path / "workers", app=APP)
    try:
        async with TaskHubClient(settings_of(env)) as client:
            fleet.start("v1")
            await client.schedule_new_orchestration("versioned", input=1, instance_id="new", version="2.0")
            old = [f"old-{i}" for i in range(3)]
            for n, iid in enumerate(old):
                await client.schedule_new_orchestration("versioned", input=n, instance_id=iid)
            outputs = await asyncio.gather(*(_completed(client, iid) for iid in old))
            assert [o["version"] for o in outputs] == ["1.0"] * 3
            assert all(_checkpointed_by(fleet, iid) == {"v1"} for iid in old)

            if failure == "Fail":
                state = await client.wait_for_orchestration_completion("new", timeout=30)
                assert state.runtime_status is OrchestrationStatus.FAILED, state
                assert state.failure_details is not None
                assert state.failure_details.error_type == "VersionMismatch"
                assert "'2.0'" in state.failure_details.message and "'1.0'" in state.failure_details.message
                assert state.version == "2.0"
            else:
                await wait_for(lambda: _rejections(fleet, "new") >= 3, 30, 0.5, message="3 rejections by v1")
                state = await client.get_orchestration_state("new")
                assert state is not None and state.runtime_status is OrchestrationStatus.PENDING, state
                assert state.version == "2.0"
            # the old worker stays healthy: later work on the same partition still completes
            await client.schedule_new_orchestration("versioned", input=7, instance_id="old-late")
            assert (await _completed(client, "old-late"))["doubled"] == 14
            assert fleet.current("v1").alive

            # version 2.0 joins, 1.0 retires
            fleet.start("v2", extra_env={ENV_PREFIX + "defaultVersion": "2.0"})
            assert await fleet.stop("v1") == 0
            target = "new"
            if failure == "Fail":
                target = "new-again"
                await client.schedule_new_orchestration("versioned", input=1, instance_id=target, version="2.0")
            assert await _completed(client, target) == {"version": "2.0", "child": "2.0", "doubled": 2}
            assert _checkpointed_by(fleet, target) == {"v2"}
            row = await client.service.hub.tracking.get_instance(target)
            assert row is not None and row.version == "2.0"

            await client.schedule_new_orchestration("versioned", input=2, instance_id="old-on-v2")
            if match == "Strict":
                await wait_for(lambda: _rejections(fleet, "old-on-v2", "v2") >= 1, 30, 0.5, message="v2 rejects")
                state = await client.get_orchestration_state("old-on-v2")
                assert state is not None and state.runtime_status is OrchestrationStatus.PENDING
            else:
                assert (await _completed(client, "old-on-v2"))["version"] == "1.0"
                assert _checkpointed_by(fleet, "old-on-v2") == {"v2"}
            assert await client.service.hub.poison.list() == []
            if failure == "Reject":
                assert _rejections(fleet, "new") > 2  # more than poisonMessageThreshold, and no poison
    finally:
        fleet.close()
