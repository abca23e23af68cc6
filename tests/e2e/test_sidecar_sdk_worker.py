"""`taskhub sidecar`, worker half: the official durabletask worker (PyPI durabletask 1.12.0) runs its
orchestrators and activities on this hub through the sidecar's work-item stream; the sidecar's own
worker checkpoints their decisions. The e2e fixture's format check passes on every hub left behind."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from durabletask import client as dt
from durabletask import entities, task
from durabletask.worker import TaskHubGrpcWorker

from taskhub.format.history import EventType
from taskhub.http.dashboard import PREFIX as DASHBOARD_PREFIX
from taskhub.http.server import create_app
from taskhub.model.app import App
from taskhub.model.context import OrchestrationContext
from tests.e2e.conftest import E2E
from tests.format_check import read_history_rows
from tests.helpers import wait_for
from worker.sidecar import stream as stream_module
from worker.sidecar.server import Sidecar

pytestmark = pytest.mark.app(None)  # no in-process functions: everything runs on the SDK worker

ATTEMPTS: dict[str, int] = {}
_lock = threading.Lock()


def hello(ctx: task.ActivityContext, name: str) -> str:
    return f"Hello {name}!"


def flaky(ctx: task.ActivityContext, key: str) -> str:
    with _lock:
        ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
        n = ATTEMPTS[key]
    if n < 3:
        raise RuntimeError(f"attempt {n} fails")
    return f"ok after {n}"


def broken(ctx: task.ActivityContext, _: Any) -> None:
    raise ValueError("activity broke")


def chain(ctx: task.OrchestrationContext, _: Any) -> Iterator[task.Task[Any]]:
    a = yield ctx.call_activity(hello, input="Tokyo")
    b = yield ctx.call_activity(hello, input="Seattle")
    ctx.set_custom_status({"step": 2})
    return [a, b]


def steps(ctx: task.OrchestrationContext, n: int) -> Iterator[task.Task[Any]]:
    out = []
    for i in range(n):
        out.append((yield ctx.call_activity(hello, input=str(i))))
    return out


def fan(ctx: task.OrchestrationContext, n: int) -> Iterator[task.Task[Any]]:
    results = yield task.when_all([ctx.call_activity(hello, input=str(i)) for i in range(n)])
    return results


def timer_then_hello(ctx: task.OrchestrationContext, _: Any) -> Iterator[task.Task[Any]]:
    start = ctx.current_utc_datetime
    yield ctx.create_timer(timedelta(seconds=2))
    waited = (ctx.current_utc_datetime - start).total_seconds()
    return waited >= 2


def approval(ctx: task.OrchestrationContext, timeout_s: float) -> Iterator[task.Task[Any]]:
    event = ctx.wait_for_external_event("approve")
    timeout = ctx.create_timer(timedelta(seconds=timeout_s))
    winner = yield task.when_any([event, timeout])
    return event.get_result() if winner == event else "timed out"


def parent(ctx: task.OrchestrationContext, n: int) -> Iterator[task.Task[Any]]:
    child = yield ctx.call_sub_orchestrator(fan, input=n, instance_id=f"{ctx.instance_id}-child")
    return len(child)


def retries(ctx: task.OrchestrationContext, key: str) -> Iterator[task.Task[Any]]:
    policy = task.RetryPolicy(first_retry_interval=timedelta(seconds=0.5), max_number_of_attempts=3)
    return (yield ctx.call_activity(flaky, input=key, retry_policy=policy))


def fails(ctx: task.OrchestrationContext, _: Any) -> Iterator[task.Task[Any]]:
    yield ctx.call_activity(broken)


def counts(ctx: task.OrchestrationContext, n: int) -> Iterator[task.Task[Any]]:
    if n < 3:
        yield ctx.call_activity(hello, input=str(n))
        ctx.continue_as_new(n + 1)
        return None
    return n


def waits(ctx: task.OrchestrationContext, _: Any) -> Iterator[task.Task[Any]]:
    return (yield ctx.wait_for_external_event("go"))


def tally(ctx: entities.EntityContext, input: Any) -> Any:
    if ctx.operation == "add":
        ctx.set_state(ctx.get_state(int, 0) + input)
    elif ctx.operation == "fail":
        ctx.set_state(-1)
        raise ValueError("no")
    elif ctx.operation == "relay":  # an entity signalling another entity
        ctx.signal_entity(entities.EntityInstanceId("tally", input), "add", 100)
    return ctx.get_state(int, 0)


def uses_entities(ctx: task.OrchestrationContext, key: str) -> Iterator[task.Task[Any]]:
    entity = entities.EntityInstanceId("tally", key)
    ctx.signal_entity(entity, "add", input=3)
    first = yield ctx.call_entity(entity, "add", input=4)
    try:
        yield ctx.call_entity(entity, "fail")
        failed = None
    except task.TaskFailedError as err:
        failed = str(err)
    return [first, failed is not None and "no" in failed]


def transfer(ctx: task.OrchestrationContext, amount: int) -> Iterator[task.Task[Any]]:
    a, b = entities.EntityInstanceId("tally", "from"), entities.EntityInstanceId("tally", "to")
    with (yield ctx.lock_entities([b, a])):
        have = yield ctx.call_entity(a, "add", input=-amount)
        yield ctx.call_entity(b, "add", input=amount)
    return have


def big(ctx: task.ActivityContext, n: int) -> str:
    return "x" * n


def big_chain(ctx: task.OrchestrationContext, n: int) -> Iterator[task.Task[Any]]:
    text = yield ctx.call_activity(big, input=n)
    again = yield ctx.call_activity(hello, input=text)  # a large input, read back from its blob
    return len(again)


ORCHESTRATORS = [
    big_chain,
    transfer,
    uses_entities,
    chain,
    steps,
    fan,
    timer_then_hello,
    approval,
    parent,
    retries,
    fails,
    counts,
    waits,
]
ACTIVITIES = [hello, flaky, broken, big]


@dataclass
class Sdk:
    client: dt.TaskHubGrpcClient
    sidecar: Sidecar

    async def run(self, orchestrator: Any, input: Any = None, instance_id: str | None = None) -> Any:
        iid = await asyncio.to_thread(
            self.client.schedule_new_orchestration, orchestrator, input=input, instance_id=instance_id
        )
        return await asyncio.to_thread(self.client.wait_for_orchestration_completion, iid, timeout=60)

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)


@pytest.fixture
async def sdk(e2e: E2E) -> AsyncIterator[Sdk]:
    async with Sidecar(e2e.settings, port=0) as sidecar:
        address = f"localhost:{sidecar.port}"
        w = TaskHubGrpcWorker(host_address=address)
        for o in ORCHESTRATORS:
            w.add_orchestrator(o)
        for a in ACTIVITIES:
            w.add_activity(a)
        w.add_entity(tally)
        w.start()
        client = dt.TaskHubGrpcClient(host_address=address)
        try:
            yield Sdk(client, sidecar)
        finally:
            client.close()
            await asyncio.to_thread(w.stop)


COMPLETED = dt.OrchestrationStatus.COMPLETED


async def test_chaining_and_custom_status(e2e: E2E, sdk: Sdk) -> None:
    done = await sdk.run(chain)
    assert done.runtime_status is COMPLETED, done.failure_details
    assert done.get_output() == ["Hello Tokyo!", "Hello Seattle!"]
    assert done.get_custom_status() == {"step": 2}
    kinds = await e2e.event_types(done.instance_id)
    assert kinds.count("TaskScheduled") == 2 and kinds.count("TaskCompleted") == 2
    assert kinds[-2:] == ["ExecutionCompleted", "OrchestratorCompleted"]


async def test_sdk_activity_results_after_the_first_skip_the_control_queue(e2e: E2E, sdk: Sdk) -> None:
    calls = sdk.sidecar.worker.backend.hub.storage.calls  # type: ignore[attr-defined]
    sent = calls["send_message"]
    done = await sdk.run(steps, 5)
    assert done.runtime_status is COMPLETED, done.failure_details
    assert done.get_output() == [f"Hello {i}!" for i in range(5)]
    # the first result goes through the control queue; the SDK worker ran it and answered, so the rest
    # run in memory (group commit) or are dispatched locally and handed straight into the
    # orchestration's session, as in-process ones
    assert calls["send_message"] - sent == 1
    assert sdk.sidecar.worker.activities.started_count == 5
    # each episode's history was translated for the SDK once per event, not again at every episode
    # (6 episodes, 2 + 4 events more each: reused 2 + 6 + 10 + 14 + 18 when the session kept them all)
    remote = sdk.sidecar.worker.orchestrations.executor.remote  # type: ignore[attr-defined]
    assert remote.shown.reused >= 2 + 6 + 10 + 14 + 18
    # an SDK orchestrator is decided through the executor seam like any other, so its steps after the
    # first are group-committed (worker.pipeline.group_commit): the SDK's answers and its activities'
    # results in memory, several steps in one checkpoint
    assert sdk.sidecar.worker.orchestrations.groups >= 1
    assert sdk.sidecar.worker.activities.in_memory_count >= 1


async def test_fan_out_fan_in(e2e: E2E, sdk: Sdk) -> None:
    done = await sdk.run(fan, 10)
    assert done.runtime_status is COMPLETED, done.failure_details
    assert done.get_output() == [f"Hello {i}!" for i in range(10)]


async def test_durable_timer(e2e: E2E, sdk: Sdk) -> None:
    done = await sdk.run(timer_then_hello)
    assert done.runtime_status is COMPLETED, done.failure_details
    assert done.get_output() is True
    assert "TimerFired" in await e2e.event_types(done.instance_id)


async def test_external_event_and_its_timeout(e2e: E2E, sdk: Sdk) -> None:
    iid = await sdk.call(sdk.client.schedule_new_orchestration, approval, input=60)
    await e2e.wait_for_event(iid, EventType.TimerCreated)
    await sdk.call(sdk.client.raise_orchestration_event, iid, "approve", data={"by": "ada"})
    done = await sdk.call(sdk.client.wait_for_orchestration_completion, iid, timeout=60)
    assert done.get_output() == {"by": "ada"}
    late = await sdk.run(approval, 1)
    assert late.get_output() == "timed out"


async def test_sub_orchestration(e2e: E2E, sdk: Sdk) -> None:
    done = await sdk.run(parent, 3, instance_id="p1")
    assert done.runtime_status is COMPLETED, done.failure_details
    assert done.get_output() == 3
    child = await sdk.call(sdk.client.get_orchestration_state, "p1-child")
    assert child.runtime_status is COMPLETED and len(child.get_output()) == 3


async def test_retries_and_failures(e2e: E2E, sdk: Sdk) -> None:
    done = await sdk.run(retries, "r1")
    assert done.runtime_status is COMPLETED, done.failure_details
    assert done.get_output() == "ok after 3"
    failed = await sdk.run(fails)
    assert failed.runtime_status is dt.OrchestrationStatus.FAILED
    assert "activity broke" in failed.failure_details.message


async def test_continue_as_new(e2e: E2E, sdk: Sdk) -> None:
    done = await sdk.run(counts, 0, instance_id="c1")
    assert done.runtime_status is COMPLETED, done.failure_details
    assert done.get_output() == 3
    kinds = await e2e.event_types("c1")
    assert kinds.count("ExecutionStarted") == 1 and "TaskScheduled" not in kinds  # the last execution only


async def test_suspend_resume_terminate(e2e: E2E, sdk: Sdk) -> None:
    iid = await sdk.call(sdk.client.schedule_new_orchestration, waits, instance_id="s1")
    await sdk.call(sdk.client.wait_for_orchestration_start, iid, timeout=60)
    await sdk.call(sdk.client.suspend_orchestration, iid)
    await e2e.wait_for_event(iid, EventType.ExecutionSuspended)
    await sdk.call(sdk.client.raise_orchestration_event, iid, "go", data=1)
    await e2e.wait_for_event(iid, EventType.EventRaised)
    state = await sdk.call(sdk.client.get_orchestration_state, iid)
    assert state.runtime_status is dt.OrchestrationStatus.SUSPENDED
    await sdk.call(sdk.client.resume_orchestration, iid)
    done = await sdk.call(sdk.client.wait_for_orchestration_completion, iid, timeout=60)
    assert done.get_output() == 1

    other = await sdk.call(sdk.client.schedule_new_orchestration, waits, instance_id="s2")
    await sdk.call(sdk.client.wait_for_orchestration_start, other, timeout=60)
    await sdk.call(sdk.client.terminate_orchestration, other, output="stop")
    ended = await sdk.call(sdk.client.wait_for_orchestration_completion, other, timeout=60)
    assert ended.runtime_status is dt.OrchestrationStatus.TERMINATED


# -- mixed workers: this project's own functions in the sidecar's worker, the SDK's on the SDK worker --

ours = App()


@ours.activity
def shout(ctx: Any, text: str) -> str:
    return text.upper() + "!"


@ours.orchestrator
def ours_calls_sdk(ctx: OrchestrationContext, name: str):  # type: ignore[no-untyped-def]
    return (yield ctx.call_activity("hello", input=name))


def sdk_calls_ours(ctx: task.OrchestrationContext, text: str) -> Iterator[task.Task[Any]]:
    return (yield ctx.call_activity("shout", input=text))


async def test_mixed_workers_call_each_other_s_functions(e2e: E2E) -> None:
    async with Sidecar(e2e.settings, port=0, app=ours) as sidecar:
        address = f"localhost:{sidecar.port}"
        w = TaskHubGrpcWorker(host_address=address)
        w.add_orchestrator(sdk_calls_ours)
        w.add_activity(hello)
        w.start()
        client = dt.TaskHubGrpcClient(host_address=address)
        sdk = Sdk(client, sidecar)
        try:
            python_sdk = await sdk.run(sdk_calls_ours, "quiet")
            assert python_sdk.get_output() == "QUIET!"
            own = await sdk.run("ours_calls_sdk", "Ada")
            assert own.get_output() == "Hello Ada!"
        finally:
            client.close()
            await asyncio.to_thread(w.stop)


async def test_entities_of_the_sdk_worker(e2e: E2E, sdk: Sdk) -> None:
    one, two = entities.EntityInstanceId("tally", "one"), entities.EntityInstanceId("tally", "two")
    for op, value in [("add", 5), ("fail", None), ("add", 2), ("relay", "two")]:
        await sdk.call(sdk.client.signal_entity, one, op, input=value)

    async def settled() -> bool:
        a = await sdk.call(sdk.client.get_entity, one)
        b = await sdk.call(sdk.client.get_entity, two)
        return a is not None and b is not None and (a.get_state(int), b.get_state(int)) == (7, 100)

    await wait_for(
        settled, 30, 0.2, message="tally one reaches 7 (the failed operation rolled back), two 100"
    )
    ours = await e2e.client.get_entity("@tally@one")
    assert ours is not None and ours.state == 7


async def test_an_sdk_orchestration_signals_and_calls_entities(e2e: E2E, sdk: Sdk) -> None:
    done = await sdk.run(uses_entities, "k")
    assert done.runtime_status is COMPLETED, done.failure_details
    assert done.get_output() == [7, True]  # the signal ran before the call; the failing call raised
    assert (await e2e.client.get_entity("@tally@k")).state == 7  # type: ignore[union-attr]


async def test_instances_of_the_sdk_show_in_the_cli_the_http_api_and_the_dashboard(
    e2e: E2E, sdk: Sdk, tmp_path: Path
) -> None:
    done = await sdk.run(chain, instance_id="faces")
    assert done.runtime_status is COMPLETED, done.failure_details
    from tests.newcomer.test_cli import cli

    history = await cli(e2e, tmp_path, "get-history", "--id", "faces", "--raw")
    assert history.returncode == 0, history.stderr
    assert "TaskScheduled" in history.stdout and "ExecutionCompleted" in history.stdout

    server = TestServer(create_app(e2e.settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            url = server.make_url("/runtime/webhooks/durabletask/instances/faces")
            async with session.get(url, params={"showHistory": "true"}) as r:
                body = await r.json()
            assert r.status == 200 and body["runtimeStatus"] == "Completed"
            assert body["output"] == ["Hello Tokyo!", "Hello Seattle!"] and body["customStatus"] == {
                "step": 2
            }
            async with session.get(server.make_url(f"{DASHBOARD_PREFIX}/instances/faces")) as page:
                html = await page.text()
            assert page.status == 200 and "chain" in html and "Completed" in html
    finally:
        await server.close()


async def test_an_sdk_orchestration_locks_entities(e2e: E2E, sdk: Sdk) -> None:
    runs = await asyncio.gather(*(sdk.run(transfer, 5, instance_id=f"t{i}") for i in range(3)))
    assert all(r.runtime_status is COMPLETED for r in runs), [r.failure_details for r in runs]
    assert sorted(r.get_output() for r in runs) == [-15, -10, -5]  # one critical section at a time
    assert (await e2e.client.get_entity("@tally@to")).state == 15  # type: ignore[union-attr]
    from_ = await e2e.client.get_entity("@tally@from")
    assert from_ is not None and from_.locked_by is None  # released


async def test_large_payloads_go_to_blobs_and_come_back(e2e: E2E, sdk: Sdk) -> None:
    n = 200_000  # far above the 45 KB a queue message or table cell holds
    done = await sdk.run(big_chain, n, instance_id="big")
    assert done.runtime_status is COMPLETED, done.failure_details
    assert done.get_output() == n + len("Hello !")
    rows = await asyncio.to_thread(read_history_rows, e2e.client.service.hub)
    offloaded = [r for r in rows if r["PartitionKey"] == "big" and any(k.endswith("BlobName") for k in r)]
    assert offloaded, "the large payloads were not offloaded to blobs"


async def test_work_waits_for_a_worker_instead_of_turning_poison(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(stream_module, "WAIT_FOR_WORKER_S", 0.5)
    storage = dataclasses.replace(e2e.settings.storage, poison_message_threshold=2)
    settings = e2e.settings.with_overrides(storage=storage)
    caplog.set_level(logging.INFO, logger="worker.pipeline")
    async with Sidecar(settings, port=0) as sidecar:
        address = f"localhost:{sidecar.port}"
        client = dt.TaskHubGrpcClient(host_address=address)
        try:
            iid = await asyncio.to_thread(client.schedule_new_orchestration, chain)
            entity = entities.EntityInstanceId("tally", "waits")
            await asyncio.to_thread(client.signal_entity, entity, "add", input=3)

            def put_back() -> int:
                return sum("no connected worker took" in r.getMessage() for r in caplog.records)

            await wait_for(
                lambda: put_back() >= 6, 60, 0.2, message="the work items went back three times each"
            )
            w = TaskHubGrpcWorker(host_address=address)  # only now a worker connects
            w.add_orchestrator(chain)
            w.add_activity(hello)
            w.add_entity(tally)
            w.start()
            try:
                done = await asyncio.to_thread(client.wait_for_orchestration_completion, iid, timeout=60)

                async def counted() -> bool:
                    meta = await asyncio.to_thread(client.get_entity, entity)
                    return meta is not None and meta.get_state(int) == 3

                await wait_for(counted, 60, 0.2, message="the entity ran its signal")
            finally:
                await asyncio.to_thread(w.stop)
        finally:
            client.close()
    assert done.runtime_status is COMPLETED, done.failure_details
    assert done.get_output() == ["Hello Tokyo!", "Hello Seattle!"]
