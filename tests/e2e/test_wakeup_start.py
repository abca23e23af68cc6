"""Wake-ups of a start (issue 13, W5): the hub's listeners are woken once the Instances row exists.

The client sends the ExecutionStarted message first and writes the Instances row second (as DTFx does).
A worker woken between the two would find no row for its start dedupe (runtime.md 7.3) and hold the
start back (a wait, or a deferral of about 2 s). So the wake-up, in this process and by datagram to the
hub's other processes on this machine, is sent after the row is written; pollers still find the message
as before.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from taskhub.format.history import OrchestrationStatus
from taskhub.format.rows import InstanceRow
from taskhub.hub.lifecycle import TaskHub
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from tests.e2e.conftest import E2E
from tests.helpers import wait_for

app = App()


@app.activity
def hello(ctx: ActivityContext, name: str) -> str:
    return f"hello {name}"


@app.orchestrator
def greet(ctx: OrchestrationContext, name: str):  # type: ignore[no-untyped-def]
    return (yield ctx.call_activity(hello, input=name))


class Peer:
    """Another process of the hub on this machine, as a worker listens: a socket in the hub's wake-up
    directory. Each wake-up of ``queue`` reads the Instances row of ``instance_id`` at once."""

    def __init__(self, hub: TaskHub, instance_id: str) -> None:
        self.hub = hub
        self.instance_id = instance_id
        self.queue = hub.names.control_queue_for(instance_id)
        self.reads: list[asyncio.Task[InstanceRow | None]] = []
        hub.queues.wakeups.on_enqueue(self.queue, self._woken)
        hub.queues.wakeups.peers.listen()

    def _woken(self) -> None:
        self.reads.append(asyncio.ensure_future(self.hub.tracking.get_instance(self.instance_id)))

    async def rows_seen(self) -> list[InstanceRow | None]:
        await wait_for(lambda: self.reads, 10, message=f"a wake-up of {self.queue}")
        return list(await asyncio.gather(*self.reads))

    def close(self) -> None:
        self.hub.queues.wakeups.peers.close()


@pytest.mark.app(None)
async def test_the_clients_wake_up_comes_after_the_instances_row(e2e: E2E) -> None:
    client = e2e.client
    await client.service.hub.create_if_not_exists()
    iid = "wake-order-1"
    queue = client.service.hub.names.control_queue_for(iid)
    row_writes_at_wake: list[int] = []
    client.service.hub.queues.wakeups.on_enqueue(
        queue, lambda: row_writes_at_wake.append(client.service.hub.storage.calls["insert_entity"])
    )
    peer = Peer(TaskHub(e2e.settings), iid)
    try:
        writes_before = client.service.hub.storage.calls["insert_entity"]
        await client.schedule_new_orchestration("greet", input="x", instance_id=iid)
        # this process's listeners: woken once, after the row was written (not between send and write)
        assert row_writes_at_wake == [writes_before + 1]
        # another process woken by the datagram finds the row, Pending, of this start
        rows = await peer.rows_seen()
        assert len(rows) == 1 and rows[0] is not None
        assert rows[0].runtime_status is OrchestrationStatus.PENDING
        msgs = await client.service.hub.storage.peek_messages(queue)
        assert len(msgs) == 1  # the start message is there, visible, as before
    finally:
        peer.close()
        await peer.hub.close()


@pytest.mark.app(None)
async def test_a_scheduled_start_wakes_no_one(e2e: E2E) -> None:
    client = e2e.client
    await client.service.hub.create_if_not_exists()
    iid = "wake-later-1"
    woken: list[str] = []
    client.service.hub.queues.wakeups.on_enqueue(client.service.hub.names.control_queue_for(iid), lambda: woken.append(iid))
    await client.schedule_new_orchestration(
        "greet", input="x", instance_id=iid, start_at=datetime.now(UTC) + timedelta(minutes=5)
    )
    state = await client.get_orchestration_state(iid)
    assert state is not None and state.runtime_status is OrchestrationStatus.PENDING
    assert woken == []  # hidden for 5 minutes: nothing to come for yet


async def test_a_woken_worker_runs_the_start_without_holding_it_back(
    e2e: E2E, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker (polling every 0.5 s at most) is woken by the client's datagram; each start is
    processed on its first delivery: never deferred, its message dequeued once."""
    caplog.set_level(logging.INFO, logger="worker")
    ids = [f"wake-run-{i}" for i in range(5)]
    for iid in ids:  # one after another: each start wakes a worker that is idle
        await e2e.client.schedule_new_orchestration(greet, input=iid, instance_id=iid)
        state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
        assert state is not None and state.runtime_status is OrchestrationStatus.COMPLETED
        assert state.output == f"hello {iid}"
    defers = [r.getMessage() for r in caplog.records if "orchestration.defer" in r.getMessage()]
    assert defers == []
    started = [e for iid in ids for e in await e2e.event_types(iid) if e == "ExecutionStarted"]
    assert len(started) == len(ids)
