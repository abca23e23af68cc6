"""Entity batches survive a worker that dies: nothing lost, nothing applied twice (real worker processes).

* SIGKILL at a random moment while one worker runs batches of client signals on four counters, then a
  restart: every counter ends exactly at the number of signals sent to it.
* The narrowest window, deterministically: the worker dies right after a batch's history and Instances
  row are written and before its messages are deleted (``TASKHUB_TEST_FAULT=before_delete``, installed
  by the test-only launcher ``tests.process.fault_worker``). The messages come back after their visibility timeout; the restarted worker recognises them
  (``taskhubRecent``) and drops them, so the counter is still exact.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.hub.lifecycle import TaskHub
from taskhub.model.entities import EntityId
from tests.faults import FAULT_EXIT_CODE
from tests.helpers import wait_for
from tests.process.harness import (
    ENV_PREFIX,
    FAST_LEASES,
    FAULT_ENV,
    Fleet,
    hub_env,
    settings_of,
    settled,
    wait_ownership,
)

pytestmark = [pytest.mark.slow]
APP = "tests.entities.apps:app"
KEYS = ["k0", "k1", "k2", "k3"]
PER_KEY = 150


def entity_env(conn: str, hub: str) -> dict[str, str]:
    env = hub_env(conn, hub, leases=FAST_LEASES)
    env[ENV_PREFIX + "maxEntityOperationBatchSize"] = "5"  # many small batches: many checkpoints to die in
    return env


async def queues_empty(hub: TaskHub) -> bool:
    lengths = [await hub.storage.queue_length(q) for q in hub.names.control_queues]
    return sum(lengths) == 0


async def backlog(client: TaskHubClient) -> int:
    metas = [await client.get_entity(EntityId("counter", k)) for k in KEYS]
    return sum(m.backlog_queue_size for m in metas if m)


async def counts(client: TaskHubClient) -> list[Any]:
    metas = [await client.get_entity(EntityId("counter", k)) for k in KEYS]
    return [m.state if m else 0 for m in metas]


@pytest.mark.timeout(400)
async def test_sigkill_mid_batch_then_restart_loses_nothing_and_applies_nothing_twice(
    azurite_connection_string: str, hub_name: str, fleets: Callable[..., Fleet], figures: dict[str, Any]
) -> None:
    env = entity_env(azurite_connection_string, hub_name)
    fleet = fleets(env)
    fleet.app = APP
    rng = random.Random()
    async with TaskHubClient(settings_of(env)) as client:
        hub = client.service.hub
        fleet.start("w1")
        await wait_ownership(hub, lambda v: settled(v, {"w1"}), 60)

        async def feed() -> None:
            for n in range(PER_KEY):
                await asyncio.gather(
                    *(client.signal_entity(EntityId("counter", k), "add", input=1) for k in KEYS)
                )
                if n % 10 == 0:
                    await asyncio.sleep(0.05)

        feeder = asyncio.create_task(feed())
        await wait_for(lambda: _some_applied(client), 60, 0.1, message="the first batches ran")
        await asyncio.sleep(rng.uniform(0.0, 2.0))
        fleet.kill("w1")
        t_kill = time.monotonic()
        at_kill = await counts(client)
        fleet.start("w1")
        await feeder

        async def settled_counts() -> Any:
            # every message processed (or dropped), and nothing left queued inside the entities
            return await queues_empty(hub) and await backlog(client) == 0 and await counts(client)

        await wait_for(
            settled_counts, 300, 0.5, message="the control queues and the entities' queues are empty"
        )
        final = await counts(client)
        figures.update(
            {"applied_at_kill": at_kill, "final": final, "recovered_s": round(time.monotonic() - t_kill, 1)}
        )
    assert final == [PER_KEY] * len(KEYS)
    assert any(0 < c < PER_KEY for c in at_kill), at_kill  # the kill did fall in the middle of the work


async def _some_applied(client: TaskHubClient) -> bool:
    return any(c > 0 for c in await counts(client))


@pytest.mark.timeout(400)
async def test_death_between_the_history_write_and_the_deletes_applies_nothing_twice(
    azurite_connection_string: str, hub_name: str, fleets: Callable[..., Fleet], tmp_path: Path
) -> None:
    env = entity_env(azurite_connection_string, hub_name)
    fleet = fleets(env)
    fleet.app = APP
    counter = EntityId("counter", "fault")
    async with TaskHubClient(settings_of(env)) as client:
        hub = client.service.hub
        victim = fleet.start("w1", extra_env={FAULT_ENV: "before_delete"})
        await wait_ownership(hub, lambda v: settled(v, {"w1"}), 60)
        for _ in range(12):
            await client.signal_entity(counter, "add", input=1)
        assert (
            await fleet.wait_exit(victim, 120) == FAULT_EXIT_CODE
        )  # died at the fault, after its first entity checkpoint
        meta = await client.get_entity(counter)
        committed = meta.state if meta else 0
        assert 0 < committed <= 5  # one batch (at most 5 operations) was committed, its messages not deleted
        restarted = fleet.start("w1")

        async def done() -> Any:
            return await queues_empty(hub) and (await client.get_entity(counter))

        meta = await wait_for(done, 300, 0.5, message="every message processed or dropped")
    assert meta.state == 12
    log = restarted.log_path.read_text()
    assert "entity.discard" in log and "was already accepted" in log
