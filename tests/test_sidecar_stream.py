"""The sidecar's work-item stream, without storage: concurrency limits, completion tokens, work of a
worker that disconnects failed at once, reconnects, health pings, and work nobody takes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from worker.sidecar import stream as stream_module
from worker.sidecar.proto import pb
from worker.sidecar.stream import Dispatcher, NoWorker, UnknownToken, WorkerGone


def _activity(n: int) -> pb.ActivityRequest:
    return pb.ActivityRequest(name="act", taskId=n)


async def _next(items: AsyncIterator[pb.WorkItem], timeout: float = 5) -> pb.WorkItem:
    return await asyncio.wait_for(items.__anext__(), timeout)


async def test_the_stream_holds_no_more_than_the_worker_asked_for() -> None:
    d = Dispatcher()
    items = d.stream(pb.GetWorkItemsRequest(maxConcurrentActivityWorkItems=2))
    runs = [asyncio.ensure_future(d.run("activity", "act", _activity(i))) for i in range(3)]
    first, second = await _next(items), await _next(items)
    assert {first.activityRequest.taskId, second.activityRequest.taskId} <= {0, 1, 2}
    pulling = asyncio.ensure_future(_next(items))
    await asyncio.sleep(0.3)
    assert not pulling.done()  # the third waits for a free slot
    d.complete(first.completionToken, pb.ActivityResponse(taskId=first.activityRequest.taskId))
    third = await pulling
    d.complete(second.completionToken, pb.ActivityResponse(taskId=second.activityRequest.taskId))
    d.complete(third.completionToken, pb.ActivityResponse(taskId=third.activityRequest.taskId))
    answers = await asyncio.gather(*runs)
    assert sorted(a.taskId for a in answers) == [0, 1, 2]
    with pytest.raises(UnknownToken, match="not held"):
        d.complete(first.completionToken, pb.ActivityResponse())
    await items.aclose()


async def test_work_of_a_worker_that_disconnects_fails_at_once_and_reaches_the_next() -> None:
    d = Dispatcher()
    items = d.stream(pb.GetWorkItemsRequest())
    run = asyncio.ensure_future(d.run("orchestrator", "orch", pb.OrchestratorRequest(instanceId="i1")))
    held = await _next(items)
    assert held.orchestratorRequest.instanceId == "i1"
    await items.aclose()  # the worker's stream ends
    with pytest.raises(WorkerGone):
        await asyncio.wait_for(run, 1)
    assert d.connections == 0

    again = d.stream(pb.GetWorkItemsRequest())  # it reconnects, or another worker connects
    retry = asyncio.ensure_future(d.run("orchestrator", "orch", pb.OrchestratorRequest(instanceId="i1")))
    item = await _next(again)
    d.complete(
        item.completionToken, pb.OrchestratorResponse(instanceId="i1", completionToken=item.completionToken)
    )
    assert (await retry).instanceId == "i1"
    await again.aclose()


async def test_an_abandoned_item_goes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    d = Dispatcher()
    items = d.stream(pb.GetWorkItemsRequest())
    run = asyncio.ensure_future(d.run("activity", "act", _activity(1)))
    item = await _next(items)
    d.abandon(item.completionToken)
    with pytest.raises(WorkerGone, match="abandoned"):
        await run
    await items.aclose()


async def test_idle_streams_get_health_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "HEALTH_PING_S", 0.05)
    d = Dispatcher()
    items = d.stream(pb.GetWorkItemsRequest())
    ping = await _next(items)
    assert ping.HasField("healthPing") and not ping.completionToken
    await items.aclose()


async def test_work_nobody_takes_goes_back_after_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "WAIT_FOR_WORKER_S", 0.2)
    d = Dispatcher()
    with pytest.raises(NoWorker, match="no connected worker took the activity work item 'act'"):
        await d.run("activity", "act", _activity(1))


async def test_stopping_ends_the_streams_and_gives_the_work_back() -> None:
    d = Dispatcher()
    items = d.stream(pb.GetWorkItemsRequest())
    run = asyncio.ensure_future(d.run("activity", "act", _activity(1)))
    await _next(items)
    await d.close()
    with pytest.raises(StopAsyncIteration):
        while True:
            await _next(items)
    with pytest.raises(WorkerGone):
        await asyncio.wait_for(run, 1)
    with pytest.raises(NoWorker, match="stopping"):
        await d.run("activity", "act", _activity(2))


async def test_work_is_routed_by_the_workers_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "WAIT_FOR_WORKER_S", 0.3)
    d = Dispatcher()
    filters = pb.WorkItemFilters(activities=[pb.ActivityFilter(name="Act")])
    picky = d.stream(pb.GetWorkItemsRequest(workItemFilters=filters))
    pulled = asyncio.ensure_future(_next(picky))
    await asyncio.sleep(0)
    with pytest.raises(NoWorker, match="'other'"):
        await d.run("activity", "other", _activity(1))  # the only worker does not take it
    run = asyncio.ensure_future(d.run("activity", "act", _activity(2)))  # names match case-insensitively
    item = await pulled
    assert item.activityRequest.taskId == 2
    d.complete(item.completionToken, pb.ActivityResponse(taskId=2))
    assert (await run).taskId == 2
    await picky.aclose()
