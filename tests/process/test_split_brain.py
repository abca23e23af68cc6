"""Split-brain: two workers processing the same instance at once; the history sentinel's ETag decides.

* In-process, deterministic: two ``OrchestrationRunner`` s (each with its own storage clients, as two
  workers have) get the same batch and are held until both have loaded the same history, then race to
  checkpoint. Exactly one commits, the other gets SplitBrainError (409 on the first episode, where the
  sentinel is inserted; 412 later, where it is merged If-Match) and abandons its messages without
  deleting any. Done for the first episode and for a later one; then a real worker process completes
  the orchestration once.
* Two processes: a worker frozen in the middle of an episode (its event loop blocked, as by a long GC
  pause or a stopped VM) while the leases of its control queue are broken (with the table partition
  manager: its Partitions row is made to expire); a second worker takes the queue and checkpoints the
  same instance; when the first one wakes up its checkpoint is refused and its messages are abandoned;
  the orchestration completes once. Run with both partition managers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings
from taskhub.format.history import EventType, OrchestrationStatus, TaskScheduledEvent
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.queues import Inbound
from tests.helpers import wait_for
from tests.process.apps import STALL_ENV, app, expected_output
from tests.process.harness import (
    MANAGERS,
    Fleet,
    check_instance,
    checkpoints,
    hub_env,
    output_of,
    parse_log,
    processing_intervals,
    settings_of,
    settled,
    wait_ownership,
    wait_terminal,
)
from worker.backends.azure_storage.checkpoint import CheckpointsInProgress
from worker.backends.azure_storage.work_items import AzureOrchestrationItems
from worker.executors.app import AppExecutor
from worker.executors.base import ActivityWork
from worker.pipeline.instance_cache import InstanceCache
from worker.pipeline.orchestrations import OrchestrationRunner

pytestmark = [pytest.mark.slow]


class _Spy:
    """Holds a hub's history loads at a barrier and records its message deletes and abandons."""

    def __init__(self, hub: TaskHub, barrier: asyncio.Barrier) -> None:
        self.calls: list[tuple[str, str]] = []
        load, delete, abandon = hub.tracking.load_history, hub.queues.delete, hub.queues.abandon

        async def load_history(instance_id: str, *args: Any, **kwargs: Any) -> Any:
            loaded = await load(instance_id, *args, **kwargs)
            await barrier.wait()  # both runners now hold the same history and sentinel ETag
            return loaded

        async def spy_delete(m: Any) -> bool:
            self.calls.append(("delete", m.raw.id))
            return await delete(m)

        async def spy_abandon(m: Any, *, delay: int | None = None) -> None:
            self.calls.append(("abandon", m.raw.id))
            await abandon(m, delay=delay)

        hub.tracking.load_history = load_history  # type: ignore[method-assign]
        hub.queues.delete = spy_delete  # type: ignore[method-assign]
        hub.queues.abandon = spy_abandon  # type: ignore[method-assign]


def _runner(hub: TaskHub, worker_id: str) -> OrchestrationRunner:
    """The orchestration pipeline of one worker over ``hub`` (as ``worker.host.Worker`` composes it)."""
    items = AzureOrchestrationItems(hub, CheckpointsInProgress())
    cache = InstanceCache(sessions=True, idle_timeout_s=30)
    return OrchestrationRunner(items, AppExecutor(app), worker_id, cache, settings=hub.settings)


async def _receive(
    hub: TaskHub, queue: str, count: int, event_type: EventType | None = None
) -> list[Inbound]:
    """``count`` messages of ``queue`` (of ``event_type`` only: others are put back at once)."""
    got: list[Inbound] = []

    async def more() -> bool:
        for m in await hub.queues.receive(queue, max_messages=32, visibility_timeout=timedelta(seconds=60)):
            if event_type is None or (m.data is not None and m.event.event_type is event_type):
                got.append(m)
            else:
                await hub.queues.abandon(m, delay=0)
        return len(got) >= count

    await wait_for(more, 20, 0.2, message=f"{count} message(s) on {queue}")
    return got


async def _race(
    settings: Settings, instance_id: str, batch: list[Inbound], caplog: pytest.LogCaptureFixture
) -> dict[str, Any]:
    """Two runners with their own hubs process ``batch`` from the same loaded history at once."""
    barrier = asyncio.Barrier(2)
    hubs = [TaskHub(settings), TaskHub(settings)]
    spies = [_Spy(h, barrier) for h in hubs]
    runners = [_runner(h, name) for h, name in zip(hubs, ("A", "B"), strict=True)]
    caplog.clear()
    try:
        await asyncio.gather(*(r.process(instance_id, batch) for r in runners))
    finally:
        for h in hubs:
            await h.close()
    won = [r.getMessage() for r in caplog.records if r.getMessage().startswith("orchestration.checkpoint ")]
    lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("checkpoint.split_brain ")]
    assert len(won) == 1, won
    assert len(lost) == 1, lost
    winner = won[0].rsplit("worker_id=", 1)[1]
    loser_spy = spies[1] if winner == "A" else spies[0]
    winner_spy = spies[0] if winner == "A" else spies[1]
    ids = sorted(m.raw.id for m in batch)
    # the loser abandons the whole batch and deletes nothing; the winner deletes it
    assert sorted(i for op, i in loser_spy.calls if op == "abandon") == ids, loser_spy.calls
    assert [c for c in loser_spy.calls if c[0] == "delete"] == [], loser_spy.calls
    assert sorted(i for op, i in winner_spy.calls if op == "delete") == ids, winner_spy.calls
    return {"winner": winner, "refused_with": lost[0].rsplit("code=", 1)[1]}


@pytest.mark.timeout(180)
async def test_two_runners_one_checkpoint_wins_then_a_worker_completes_once(
    azurite_connection_string: str,
    hub_name: str,
    fleets: Callable[..., Fleet],
    figures: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.INFO)
    env = hub_env(azurite_connection_string, hub_name, journal=tmp_path / "journal.txt")
    settings = settings_of(env)
    instance_id = "split-in-process"
    async with TaskHubClient(settings) as client:
        hub = client.service.hub
        queue = hub.names.control_queue_for(instance_id)
        await client.schedule_new_orchestration("chain", input=3, instance_id=instance_id)

        # 1. the first episode: both insert the sentinel; one gets 409
        start = await _receive(hub, queue, 1, EventType.ExecutionStarted)
        first = await _race(settings, instance_id, start, caplog)
        history = await client.get_orchestration_history(instance_id)
        assert [e.event_type for e in history].count(EventType.OrchestratorStarted) == 1, history
        # both sent the activity before the fence: the loser's copy is a harmless duplicate
        work_items = await _receive(hub, hub.names.work_item_queue, 2)
        assert len(work_items) == 2

        # run one copy of the activity by hand; leave the other for the worker below
        executor = AppExecutor(app)
        event = work_items[0].event
        assert isinstance(event, TaskScheduledEvent)
        done = (await executor.run_activity(ActivityWork(instance_id, event))).event
        executor.close()
        md = hub.queues.envelope(done, work_items[0].instance, sender=work_items[0].instance, episode=1)
        await hub.queues.send_to_instance(md)
        await hub.queues.delete(work_items[0])
        await hub.queues.abandon(work_items[1], delay=0)

        # 2. a later episode: both merge the sentinel If-Match the same ETag; one gets 412
        result = await _receive(hub, queue, 1, EventType.TaskCompleted)
        second = await _race(settings, instance_id, result, caplog)
        history = await client.get_orchestration_history(instance_id)
        assert [e.event_type for e in history].count(EventType.OrchestratorStarted) == 2, history

        # 3. a real worker finishes it, once, although the duplicate activity runs too
        fleet = fleets(env)
        fleet.start("w1")
        rows = await wait_terminal(hub, instance_id, [instance_id], timeout=60)
        facts = await check_instance(hub, instance_id, rows[instance_id])
        history = await client.get_orchestration_history(instance_id)

    figures["first_episode"] = first
    figures["later_episode"] = second
    assert first["refused_with"] == "EntityAlreadyExists"  # 409: the sentinel was inserted first
    assert second["refused_with"] == "UpdateConditionNotSatisfied"  # 412: the ETag moved on
    assert rows[instance_id].runtime_status is OrchestrationStatus.COMPLETED
    assert output_of(rows[instance_id]) == expected_output("chain", 3)
    assert facts.problems == [] and facts.completed == 1, facts
    assert [e.event_type for e in history].count(EventType.TaskScheduled) == 4


async def _expire_row(hub: TaskHub, queue: str) -> None:
    """Set the queue's Partitions row to expire a minute ago (as if its owner had stopped renewing)."""
    row = await hub.storage.get_entity(hub.names.partitions_table, "", queue)
    assert row is not None and row.get("CurrentOwner") == "w1", row
    expired = {**row, "ExpiresAt": datetime.now(UTC) - timedelta(minutes=1)}
    await hub.storage.update_entity(hub.names.partitions_table, expired, etag=row.etag, mode="replace")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("manager", MANAGERS)
async def test_frozen_worker_loses_its_queue_mid_episode_and_its_checkpoint_is_refused(
    manager: str,
    azurite_connection_string: str,
    hub_name: str,
    fleets: Callable[..., Fleet],
    figures: dict[str, Any],
    tmp_path: Path,
) -> None:
    freeze_seconds = 15
    marker = tmp_path / "frozen"
    env = hub_env(azurite_connection_string, hub_name, storage={"partitionCount": "1"}, manager=manager)
    settings = settings_of(env)
    fleet = fleets(env)
    instance_id = "split-two-processes"
    async with TaskHubClient(settings) as client:
        hub = client.service.hub
        (queue,) = hub.names.control_queues
        stale = fleet.start("w1", extra_env={STALL_ENV: f"{freeze_seconds}:{marker}"})
        await wait_ownership(hub, lambda v: settled(v, {"w1"}), 30)
        fleet.start("w2")  # one queue, already owned: w2 only runs activities for now
        await asyncio.sleep(4)
        assert (await wait_ownership(hub, lambda v: True, 5))[1] == {queue: ("w1", "w1")}

        await client.schedule_new_orchestration("stall", input=5, instance_id=instance_id)
        await wait_for(marker.exists, 30, 0.05, message="w1 froze in the episode of the activity's result")
        t_frozen = time.time()
        # w1 is stuck between loading the history and checkpointing: take its queue away
        if manager == "table":  # its row expires now: w2's next pass claims it
            await _expire_row(hub, queue)
        else:
            container = hub.names.lease_container
            for kind in ("intent", "ownership"):
                await hub.storage.break_lease(container, f"{kind}/{queue}", period=0)
        await client.raise_orchestration_event(instance_id, "go", data="yes")
        took, _ = await wait_ownership(hub, lambda v: v[queue] == ("w2", "w2"), 20, interval=0.1)

        rows = await wait_terminal(hub, instance_id, [instance_id], timeout=90)
        facts = await check_instance(hub, instance_id, rows[instance_id])
        # w1's held messages come back while it is frozen (it cannot renew them), so w2 may finish the
        # instance before w1 wakes up and tries its checkpoint: wait for w1 to have tried
        await wait_for(
            lambda: any(line.event == "checkpoint.split_brain" for line in parse_log(stale)),
            freeze_seconds + 30,
            0.2,
            message="w1 tried to checkpoint after its freeze",
        )
        # and its next lease renewal (every 10 s) finds the ownership gone
        await wait_for(
            lambda: any(
                line.event == "partitions.lost" and line.fields.get("kind") == "ownership"
                for line in parse_log(stale)
            ),
            30,
            0.2,
            message="w1 noticed it lost the queue",
        )
        lines = fleet.logs()

    assert stale.alive, "w1 should have survived its freeze"
    by_w1 = [line for line in lines if line.proc.label == "w1"]
    refused = [line for line in by_w1 if line.event == "checkpoint.split_brain"]
    w1_checkpoints = [line for line in checkpoints(by_w1) if line.t > t_frozen]
    w2_checkpoints = [line for line in checkpoints(lines) if line.proc.label == "w2"]
    spans = processing_intervals(fleet.procs, lines)[queue]
    both = [s for s in spans if s.label == "w2" and any(o.label == "w1" and o.end > s.start for o in spans)]
    figures.update(
        {
            "w2_owned_the_queue_after_break_s": round(took, 1),
            "w1_checkpoints_refused": len(refused),
            "w2_checkpoints": len(w2_checkpoints),
            "both_processed_the_queue_for_s": round(
                max(o.end for o in spans if o.label == "w1") - min(s.start for s in both), 1
            )
            if both
            else 0,
        }
    )
    assert [line.fields.get("instance_id") for line in refused] == [instance_id], fleet.tail()
    assert w1_checkpoints == [], w1_checkpoints
    assert both, f"the two processes were never on the queue together: {spans}"
    assert any(line.event == "partitions.lost" and line.fields.get("kind") == "ownership" for line in by_w1)
    assert rows[instance_id].runtime_status is OrchestrationStatus.COMPLETED, fleet.tail()
    assert output_of(rows[instance_id]) == expected_output("stall", 5)
    assert facts.problems == [] and facts.completed == 1, facts
