"""One trace across a client process and two worker processes, with a worker killed mid-orchestration.

The test process is the client: it configures the OpenTelemetry SDK with the in-memory exporter, opens a
``request`` span (the service the client sits in) and starts ``traced`` inside it. Each worker process
writes its finished spans to a JSON-lines file (``tests.process.traced_apps``). The worker that owns the
orchestration's control queue is SIGKILLed while the orchestration waits for its slow activity; the other
worker takes the queue over and replays the orchestration. Then every span of the trace is read back and
checked: one trace, the DTFx names, the expected parent/child tree, no span emitted twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.format.history import TaskScheduledEvent
from tests.otel import in_memory_exporter
from tests.otel_jsonl import SPANS_ENV, span_record
from tests.process.harness import (
    FAST_LEASES,
    Fleet,
    hub_env,
    owned_counts,
    settings_of,
    settled,
    wait_ownership,
)
from tests.process.traced_apps import SLOW_ENV

pytestmark = [pytest.mark.slow]

APP = "tests.process.traced_apps:app"


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _tree(spans: list[dict[str, Any]], root: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(depth, name, kind) in depth-first order, children sorted by name and kind."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        children.setdefault(s["parent_id"], []).append(s)
    out: list[tuple[int, str, str]] = []

    def walk(s: dict[str, Any], depth: int) -> None:
        out.append((depth, s["name"], s["kind"]))
        for c in sorted(children.get(s["span_id"], []), key=lambda c: (c["name"], c["kind"])):
            walk(c, depth + 1)

    walk(root, 0)
    return out


EXPECTED_TREE = [
    (0, "request", "INTERNAL"),
    (1, "create_orchestration:traced", "PRODUCER"),
    (2, "orchestration:traced", "SERVER"),
    (3, "activity:hello", "CLIENT"),
    (4, "activity:hello", "SERVER"),
    (3, "activity:slow_hello", "CLIENT"),
    (4, "activity:slow_hello", "SERVER"),
    (3, "entity:counter:add", "SERVER"),
    (3, "orchestration:child", "CLIENT"),
    (4, "orchestration:child", "SERVER"),
    (5, "activity:hello", "CLIENT"),
    (6, "activity:hello", "SERVER"),
    (3, "orchestration:traced:timer", "INTERNAL"),
]


async def _wait_scheduled(client: TaskHubClient, instance_id: str, activity: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = await client.get_orchestration_history(instance_id)
        if any(isinstance(e, TaskScheduledEvent) and e.name == activity for e in history):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{activity} was not scheduled within {timeout} s")


@pytest.mark.timeout(150)
async def test_one_trace_across_client_and_two_workers_with_a_kill(
    azurite_connection_string: str, hub_name: str, tmp_path: Path
) -> None:
    from opentelemetry import trace

    exporter = in_memory_exporter()
    env = hub_env(azurite_connection_string, hub_name, leases=FAST_LEASES)
    settings = settings_of(env)
    fleet = Fleet(env, tmp_path / "workers", app=APP)
    files = {w: tmp_path / f"spans-{w}.jsonl" for w in ("w1", "w2")}
    try:
        async with TaskHubClient(settings) as client:
            hub = client.service.hub
            await hub.create_if_not_exists()
            for w in ("w1", "w2"):
                fleet.start(w, extra_env={SPANS_ENV: str(files[w]), SLOW_ENV: "4"})
            await wait_ownership(
                hub,
                lambda v: settled(v, {"w1", "w2"}) and all(owned_counts(v)[w] >= 1 for w in ("w1", "w2")),
                60,
            )
            with trace.get_tracer("test").start_as_current_span("request"):
                instance_id = await client.schedule_new_orchestration(
                    "traced", input="x", instance_id="traced-1"
                )
            queue = hub.names.control_queue_for(instance_id)
            await _wait_scheduled(client, instance_id, "slow_hello", 30)
            # the episode that scheduled it emits its spans just after its history write: let it (the
            # kill is meant for the middle of the 4 s activity, not between a checkpoint and its spans)
            await asyncio.sleep(0.5)
            view = (await wait_ownership(hub, lambda v: True, 5))[1]
            victim = view[queue][0]
            assert victim in ("w1", "w2"), view
            fleet.kill(victim)
            state = await client.wait_for_orchestration_completion(instance_id, timeout=90)
            assert state is not None and state.runtime_status.value == "Completed", state
            # the orchestration span is emitted right after the last checkpoint: give it a moment
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                worker_spans = [s for f in files.values() for s in _read(f)]
                if any(s["name"] == "orchestration:traced" for s in worker_spans):
                    break
                await asyncio.sleep(0.2)
    finally:
        fleet.close()
        client_spans = [span_record(s) for s in exporter.get_finished_spans()]
        exporter.shutdown()
    request = next(s for s in client_spans if s["name"] == "request")
    trace_id = request["trace_id"]
    mine = [s for s in client_spans + worker_spans if s["trace_id"] == trace_id]
    ids = Counter(s["span_id"] for s in mine)
    assert [i for i, n in ids.items() if n > 1] == [], "a span was emitted twice"
    assert _tree(mine, request) == EXPECTED_TREE, _tree(mine, request)
    assert len(mine) == len(EXPECTED_TREE), "spans outside the tree: " + str(
        [s["name"] for s in mine if s["span_id"] not in {request["span_id"]}]
    )
    survivor = ({"w1", "w2"} - {victim}).pop()
    by_pid = {s["pid"] for s in _read(files[survivor])}
    assert any(s["name"] == "orchestration:traced" for s in _read(files[survivor])), (
        "the orchestration span comes from the worker that finished it"
    )
    assert by_pid, "the surviving worker emitted spans"
