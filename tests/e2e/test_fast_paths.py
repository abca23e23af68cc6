"""Each fast path of README "Performance", on and off, end to end on a real worker.

One workload covers them all: a chain of activities (local dispatch, quiet Instances rows, resumed
sessions, group commit; its last step also signals an entity, so that step's episode is not grouped
and local dispatch runs its activity), a small fan-out, a custom status, an external event raised by the client (a local wake-up)
and an entity call. It runs once with each fast path alone on (the others off) and once with it alone
off (the others on, as by default). Every run checks what a user would: the output, the custom status,
the stored history (the order of the steps, and the DTFx format checker over the whole hub); and
whether each path was taken, read where a user reads it: ``Worker.fast_paths`` and the
``taskhub_fast_path_total`` metric. A path that is off must show 0, one that is on more than 0. The
worker's storage calls (``taskhub_storage_calls_total``) confirm two of them independently: work items
sent held for this process (local dispatch) and fewer Instances-row writes than episodes (quiet rows).

A new fast path joins with one row of ``PATHS``: its switch and the ``FastPaths`` fields that count it
(and the paths it builds on: group commit runs only with local dispatch).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings
from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.hub.wakeup import LOCAL_WAKEUP_ENV
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from taskhub.model.entities import EntityContext, EntityId
from taskhub.model.tasks import when_all
from taskhub.telemetry import metrics
from taskhub.telemetry.prometheus import render
from tests.e2e.conftest import E2E
from tests.format_check import check_hub_format
from tests.helpers import wait_for
from worker.backends.azure_storage.instance_rows import COALESCE_ROWS_ENV
from worker.backends.base import FastPaths
from worker.pipeline.group_commit import GROUP_COMMIT_ENV
from worker.pipeline.polling import LOCAL_DISPATCH_ENV
from worker.telemetry.serve import watch_worker

pytestmark = pytest.mark.app(None)  # each test starts its worker once its switches are set

app = App()

CHAIN = 5
FAN_OUT = 3


@app.activity
def step(ctx: ActivityContext, x: int) -> int:
    return x + 1


@app.activity
async def double(ctx: ActivityContext, x: int) -> int:
    return 2 * x


@app.entity
def tally(ctx: EntityContext, amount: Any) -> Any:
    if ctx.operation_name == "add":
        ctx.set_state(ctx.get_state(0) + amount)
    return ctx.get_state(0)


@app.orchestrator
def workload(ctx: OrchestrationContext, start: int):  # type: ignore[no-untyped-def]
    x = start
    for i in range(CHAIN):
        if i == CHAIN - 1:  # a step that also sends a message: no group commit, local dispatch may run it
            ctx.signal_entity(EntityId("tally", ctx.instance_id), "add", input=0)
        x = yield ctx.call_activity(step, input=x)
    fanned = yield when_all([ctx.call_activity(double, input=x + i) for i in range(FAN_OUT)])
    ctx.set_custom_status("waiting for go")
    go = yield ctx.wait_for_external_event("go")
    total = yield ctx.call_entity(EntityId("tally", ctx.instance_id), "add", input=sum(fanned))
    return {"chain": x, "fanned": fanned, "go": go, "tally": total}


EXPECTED = {"chain": 10 + CHAIN, "fanned": [30, 32, 34], "go": "now", "tally": 96}


@dataclass(frozen=True)
class FastPath:
    name: str
    taken: tuple[str, ...]
    """The fields of ``FastPaths`` that count it."""
    env: str | None = None
    """The environment switch (``0`` turns it off), if it has one."""
    setting: str | None = None
    """The ``Settings`` field (host.json) that turns it off with False and leaves it on with its
    default, if it has one."""
    requires: tuple[str, ...] = ()
    """Paths it builds on: on with it when it runs alone, and it is not taken while they are off."""


PATHS = (
    FastPath("extended sessions", ("sessions_resumed",), setting="extended_sessions_enabled"),
    FastPath("local dispatch", ("local_activities", "local_results"), LOCAL_DISPATCH_ENV),
    FastPath("quiet rows", ("rows_deferred",), COALESCE_ROWS_ENV),
    FastPath("local wake-ups", ("wakeups_received",), LOCAL_WAKEUP_ENV),
    FastPath("group commit", ("group_steps", "group_activities"), GROUP_COMMIT_ENV, requires=("local dispatch",)),
)
ALSO_ZERO_WHEN_OFF = {"quiet rows": ("rows_coalesced",)}
"""Counted by the path but not always taken when on (a merge is replaced only by a step within 1 s)."""

CASES = [
    pytest.param(path, alone, id=f"{path.name.replace(' ', '-')}-{'only-on' if alone else 'only-off'}")
    for path in PATHS
    for alone in (True, False)
]


@pytest.fixture
def prometheus() -> Iterator[metrics.Metrics]:
    yield metrics.enable()
    metrics.disable()


def _metric(text: str, path: str) -> float | None:
    for line in text.splitlines():
        m = re.match(r'^taskhub_fast_path_total\{path="(\w+)"\} (\S+)$', line)
        if m and m[1] == path:
            return float(m[2])
    return None


async def _run_workload(settings: Settings) -> str:
    """Start, raise the event once the orchestration waits for it, and check what it returned. The
    client is made here, once the switches are set, as a client of an app that has them would be."""
    async with TaskHubClient(settings) as client:
        iid = await client.schedule_new_orchestration("workload", input=10)

        async def waiting() -> bool:
            state = await client.get_orchestration_state(iid)
            return state is not None and state.custom_status == "waiting for go"

        await wait_for(waiting, 30, 0.1, message="the orchestration waits for its event")
        await client.raise_orchestration_event(iid, "go", data="now")
        state = await client.wait_for_orchestration_completion(iid, timeout=30)
    assert state.runtime_status is OrchestrationStatus.COMPLETED, state.failure_details
    assert state.output == EXPECTED
    assert state.custom_status == "waiting for go"
    return iid


async def _check_history(e2e: E2E, iid: str) -> None:
    history = await e2e.history(iid)
    scheduled = [(e.name, e.input) for e in history if e.event_type is EventType.TaskScheduled]
    chain = [("step", str(10 + i)) for i in range(CHAIN)]
    assert scheduled == chain + [("double", str(10 + CHAIN + i)) for i in range(FAN_OUT)]
    completed = [e.task_scheduled_id for e in history if e.event_type is EventType.TaskCompleted]
    ids = [e.event_id for e in history if e.event_type is EventType.TaskScheduled]
    assert sorted(completed) == ids and len(ids) == CHAIN + FAN_OUT  # each once: no duplicate recorded
    sent = [e.name for e in history if e.event_type is EventType.EventSent]
    assert len(sent) == 2, sent  # the signal and the entity call
    raised = [e.name for e in history if e.event_type is EventType.EventRaised]
    assert raised.count("go") == 1 and len(raised) == 2  # the event, and the entity's response
    assert sum(e.event_type is EventType.ExecutionCompleted for e in history) == 1


def _check_counts(on: dict[str, bool], taken: FastPaths) -> None:
    """A path that is on was taken; one that is off was not, not even once."""
    for p in PATHS:
        for field in p.taken + ALSO_ZERO_WHEN_OFF.get(p.name, ()):
            count = getattr(taken, field)
            if on[p.name] and field in p.taken:
                assert count > 0, f"{p.name} is on but {field} = 0 ({taken})"
            elif not on[p.name]:
                assert count == 0, f"{p.name} is off but {field} = {count} ({taken})"


def _check_storage_calls(on: dict[str, bool], values: dict[str, dict[Any, float]]) -> None:
    """The worker's storage calls (``taskhub_storage_calls_total``) tell the same story, independently
    of the fast-path counters: a work item sent hidden and held for this process only with local
    dispatch, and fewer Instances-row writes than orchestration episodes only with quiet rows."""
    calls = {dict(labels)["op"]: n for labels, n in values["taskhub_storage_calls_total"].items()}
    # a group commit writes one Instances row for the episodes it commits together
    in_memory = sum(values.get("taskhub_episodes_in_memory_total", {}).values())
    episodes = sum(values["taskhub_episodes_total"].values()) - in_memory
    batches = sum(values["taskhub_entity_batches_total"].values())
    assert (calls.get("send_message_held", 0) > 0) == on["local dispatch"], calls
    row_writes = calls.get("upsert_entity", 0)  # the Instances merges (orchestration and entity)
    if on["quiet rows"]:
        assert row_writes < episodes, (row_writes, episodes)
    else:  # each episode and entity batch writes its row at once, as DTFx does
        assert row_writes == episodes + batches, (row_writes, episodes, batches)


@pytest.mark.parametrize(("path", "alone"), CASES)
async def test_fast_path_on_and_off(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch, prometheus: metrics.Metrics, path: FastPath, alone: bool
) -> None:
    """``alone``: this path on and the others off; otherwise this path off and the others on."""
    on = {p.name: (p is path) == alone for p in PATHS}
    if alone:
        on.update(dict.fromkeys(path.requires, True))
    switched = dict(on)  # what the switches say; ``on``: what may be taken
    for p in PATHS:
        on[p.name] = switched[p.name] and all(switched[r] for r in p.requires)
    overrides: dict[str, Any] = {}
    for p in PATHS:
        if p.env is not None:
            monkeypatch.setenv(p.env, "1" if switched[p.name] else "0")
        if p.setting is not None and not switched[p.name]:
            overrides[p.setting] = False
    w = await e2e.start_worker(app, e2e.settings.with_overrides(**overrides))
    watch_worker(w)

    iid = await _run_workload(e2e.settings)
    await prometheus.collect()
    text, taken = render(prometheus), w.fast_paths
    await e2e.stop_workers()
    await _check_history(e2e, iid)
    report = await check_hub_format(e2e.client.service.hub)
    assert report.history_rows > 0 and report.instances >= 2  # the orchestration and the entity

    _check_counts(on, taken)
    for label, count in taken.as_labels().items():  # what /metrics shows is what the worker counted
        assert _metric(text, label) == count, f"taskhub_fast_path_total{{path={label!r}}}: {text}"
    _check_storage_calls(on, prometheus.values)
