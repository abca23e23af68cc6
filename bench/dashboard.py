"""Render times of the dashboard (issue 14 targets: a page of 100 instances under 300 ms, an instance
of 10,000 history events under 1 s). Run: ``.venv/bin/python -m bench.dashboard [--repeat N]``.

Two figures each, medians of ``--repeat`` runs:

* **render**: the page built from values already in memory (filter, sort, fold, timeline, HTML);
* **HTTP**: ``GET`` on a running ``taskhub serve`` app against a fresh in-memory Azurite, storage reads
  included (the list reads the 100 Instances rows; the instance page its row, its 10,000 History rows
  and its control queue).

Nothing here is a test: it prints the figures and whether they meet the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from bench.common import say
from bench.procs import load_azurite_ctl
from taskhub.client.async_client import TaskHubClient
from taskhub.client.status import OrchestrationState
from taskhub.config.settings import Settings
from taskhub.format.history import (
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
    TaskCompletedEvent,
    TaskScheduledEvent,
)
from taskhub.format.rows import InstanceRow
from taskhub.http.dashboard.filters import ListFilter, select_page
from taskhub.http.dashboard.folding import waiting_on
from taskhub.http.dashboard.instance_page import InstanceView, render_instance
from taskhub.http.dashboard.layout import Frame
from taskhub.http.dashboard.list_page import render_list
from taskhub.http.server import create_app
from taskhub.hub.history_view import load_history_for_view

TARGET_LIST_MS, TARGET_INSTANCE_MS = 300.0, 1000.0
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
BIG = "bench-10000"


def history(n_events: int) -> list[HistoryEvent]:
    """An orchestration calling one activity after another: 4 events per step."""
    inst = OrchestrationInstance(BIG, "e1")
    events: list[HistoryEvent] = [
        OrchestratorStartedEvent(timestamp=T0),
        ExecutionStartedEvent(orchestration_instance=inst, name="steps", input="0", timestamp=T0),
    ]
    step = 0
    while len(events) < n_events - 2:
        at = T0 + timedelta(seconds=step)
        events += [
            TaskScheduledEvent(event_id=step, name="step", input=str(step), timestamp=at),
            TaskCompletedEvent(
                task_scheduled_id=step, result=str(step), timestamp=at + timedelta(milliseconds=300)
            ),
            OrchestratorCompletedEvent(timestamp=at + timedelta(milliseconds=300)),
            OrchestratorStartedEvent(timestamp=at + timedelta(milliseconds=310)),
        ]
        step += 1
    end = T0 + timedelta(seconds=step)
    events += [
        ExecutionCompletedEvent(
            orchestration_status=OrchestrationStatus.COMPLETED, result="1", timestamp=end
        ),
        OrchestratorCompletedEvent(timestamp=end),
    ]
    return events


def states(n: int) -> list[OrchestrationState]:
    kinds = (OrchestrationStatus.COMPLETED, OrchestrationStatus.RUNNING, OrchestrationStatus.FAILED)
    return [
        OrchestrationState(
            f"inst-{k:04d}",
            "steps",
            kinds[k % 3],
            created_at=T0 + timedelta(seconds=k),
            last_updated_at=T0 + timedelta(seconds=k + 3),
            serialized_custom_status=f'{{"step": {k}}}',
        )
        for k in range(n)
    ]


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def amedian_ms(fn: Callable[[], Awaitable[object]], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def render_figures(events: list[HistoryEvent], repeat: int) -> tuple[float, float]:
    frame = Frame(hub="bench")
    many = states(100)
    f = ListFilter.parse({"preset": "all", "top": "100"}, [])
    now = datetime.now(UTC)
    list_ms = median_ms(lambda: render_list(frame, f, select_page(many, f), now), repeat)
    big = OrchestrationState(BIG, "steps", OrchestrationStatus.COMPLETED, created_at=T0, last_updated_at=now)
    inst_ms = median_ms(
        lambda: render_instance(frame, InstanceView(big, events, waiting_on(events)), now), repeat
    )
    return list_ms, inst_ms


async def http_figures(
    connection_string: str, events: list[HistoryEvent], repeat: int
) -> tuple[float, float, float, float, float]:
    settings = Settings.load(
        None,
        env={
            "AzureWebJobsStorage": connection_string,
            "AzureFunctionsJobHost__extensions__durableTask__hubName": "bench" + uuid.uuid4().hex[:8],
        },
    )
    async with TaskHubClient(settings) as client:
        await client.service.hub.create_if_not_exists()
        rows = [
            InstanceRow(
                instance_id=s.instance_id,
                execution_id="e1",
                name=s.name,
                input="0",
                created_time=s.created_at,
                last_updated_time=s.last_updated_at,
                runtime_status=s.runtime_status,
                custom_status=s.serialized_custom_status or "null",
            )
            for s in states(100)
        ]
        await asyncio.gather(*(client.service.hub.tracking.insert_instance(r) for r in rows))
        await client.service.hub.tracking.insert_instance(
            InstanceRow(
                instance_id=BIG,
                execution_id="e1",
                name="steps",
                input="0",
                output="1",
                created_time=T0,
                last_updated_time=T0 + timedelta(hours=1),
                runtime_status=OrchestrationStatus.COMPLETED,
            )
        )
        await client.service.hub.tracking.write_history(BIG, "e1", events, first_sequence=0, etag=None)
        read_ms = await amedian_ms(lambda: client.service.hub.tracking.load_history(BIG), 3)
        view_ms = await amedian_ms(lambda: load_history_for_view(client.service.hub.tracking, BIG), 3)
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as session:

            async def get(path: str) -> None:
                async with session.get(base + path) as r:
                    assert r.status == 200, (path, r.status)
                    await r.read()

            await get("/dashboard/?preset=all&top=100")  # warm the clients and the hub list
            list_ms = await amedian_ms(lambda: get("/dashboard/?preset=all&top=100&prefix=inst-"), repeat)
            first_ms = statistics.median([await first_view_ms(settings) for _ in range(repeat)])
            await get(f"/dashboard/instances/{BIG}")  # fills this app's cache for the paging figure
            again_ms = await amedian_ms(lambda: get(f"/dashboard/instances/{BIG}?hpage=50"), repeat)
    finally:
        await server.close()
    return list_ms, first_ms, again_ms, read_ms, view_ms


async def first_view_ms(settings: Settings) -> float:
    """The instance page on a fresh app (empty history cache, clients warmed by a list page first)."""
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            for path in ("/dashboard/?preset=all&top=100", f"/dashboard/instances/{BIG}"):
                start = time.perf_counter()
                async with session.get(str(server.make_url(path))) as r:
                    assert r.status == 200, (path, r.status)
                    await r.read()
        return (time.perf_counter() - start) * 1000
    finally:
        await server.close()


def _line(what: str, ms: float, target: float) -> str:
    return f"  {what:<44} {ms:8.1f} ms   target < {target:.0f} ms   {'ok' if ms < target else 'MISSED'}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-http", action="store_true", help="only the in-memory render figures")
    ns = parser.parse_args()
    events = history(10_000)
    say(f"dashboard render times, median of {ns.repeat} (history: {len(events)} events)")
    list_ms, inst_ms = render_figures(events, ns.repeat)
    say(_line("render: list page of 100 instances", list_ms, TARGET_LIST_MS))
    say(_line("render: instance of 10,000 history events", inst_ms, TARGET_INSTANCE_MS))
    if ns.no_http:
        return
    ctl = load_azurite_ctl()
    ctl.install()
    with tempfile.TemporaryDirectory() as tmp:
        info = ctl.start(Path(tmp), in_memory=True, ports=(0, 0, 0))
        try:
            list_ms, first_ms, again_ms, read_ms, view_ms = await http_figures(
                info.connection_string, events, ns.repeat
            )
        finally:
            ctl.stop(Path(tmp))
    say(_line("HTTP GET (Azurite): list page of 100", list_ms, TARGET_LIST_MS))
    say(_line("HTTP GET (Azurite): 10,000 events, first view", first_ms, TARGET_INSTANCE_MS))
    say(_line("HTTP GET (Azurite): 10,000 events, paging on", again_ms, TARGET_INSTANCE_MS))
    say(
        f"  (reading the 10,000 History rows alone: load_history {read_ms:.0f} ms,"
        f" load_history_for_view, which the page uses, {view_ms:.0f} ms)"
    )


if __name__ == "__main__":
    asyncio.run(main())
