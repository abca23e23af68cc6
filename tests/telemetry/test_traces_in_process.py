"""Spans of an in-process worker with the OpenTelemetry SDK's in-memory exporter: a continue-as-new gives
each execution a span of its own (the new execution's start carries the old one's trace context), and an
episode's spans come once each, after its checkpoint."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from worker import Worker

app = App()


@app.orchestrator
def countdown(ctx: OrchestrationContext, n: int):  # type: ignore[no-untyped-def]
    yield ctx.call_activity(tick, input=n)
    if n > 0:
        ctx.continue_as_new(n - 1)
        return None
    return "done"


@app.orchestrator
def waiter(ctx: OrchestrationContext, _: Any):  # type: ignore[no-untyped-def]
    return (yield ctx.wait_for_external_event("go"))


@app.orchestrator
def sender(ctx: OrchestrationContext, target: str):  # type: ignore[no-untyped-def]
    ctx.send_event(target, "go", data=1)
    yield ctx.create_timer(timedelta(milliseconds=10))
    return "sent"


@app.activity
def tick(ctx: ActivityContext, n: int) -> int:
    return n


async def test_each_execution_of_a_continue_as_new_has_its_own_span(
    settings: Settings, span_exporter: Any
) -> None:
    exporter = span_exporter
    fast = settings.with_overrides(max_queue_polling_interval=timedelta(milliseconds=500))
    async with Worker(app, fast), TaskHubClient(fast) as client:
        iid = await client.schedule_new_orchestration("countdown", input=2, instance_id="countdown-1")
        state = await client.wait_for_orchestration_completion(iid, timeout=30)
        assert state.runtime_status.value == "Completed"
    spans: list[Any] = list(exporter.get_finished_spans())
    created = [s for s in spans if s.name == "create_orchestration:countdown"]
    assert len(created) == 1
    trace_id = created[0].context.trace_id
    runs = [s for s in spans if s.name == "orchestration:countdown" and s.context.trace_id == trace_id]
    assert len(runs) == 3  # n = 2, 1, 0
    assert len({s.context.span_id for s in runs}) == 3
    statuses = Counter(s.attributes["durabletask.task.status"] for s in runs)
    assert statuses == {"ContinuedAsNew": 2, "Completed": 1}
    assert all(s.parent is not None and s.parent.span_id == created[0].context.span_id for s in runs)
    ticks = [s for s in spans if s.name == "activity:tick" and s.context.trace_id == trace_id]
    assert Counter(s.kind.name for s in ticks) == {"CLIENT": 3, "SERVER": 3}
    run_ids = {s.context.span_id for s in runs}
    assert all(s.parent is not None and s.parent.span_id in run_ids for s in ticks if s.kind.name == "CLIENT")
    dup = Counter(s.context.span_id for s in spans)
    assert [
        (s.name, s.kind.name, s.attributes.get("durabletask.task.status"))
        for s in spans
        if dup[s.context.span_id] > 1
    ] == []


async def test_events_raised_by_a_client_and_sent_by_an_orchestration(
    settings: Settings, span_exporter: Any
) -> None:
    exporter = span_exporter
    fast = settings.with_overrides(max_queue_polling_interval=timedelta(milliseconds=500))
    async with Worker(app, fast), TaskHubClient(fast) as client:
        await client.schedule_new_orchestration("waiter", instance_id="waiter-1")
        await client.wait_for_orchestration_start("waiter-1", timeout=30)
        await client.raise_orchestration_event("waiter-1", "go", data=2)
        await client.schedule_new_orchestration("waiter", instance_id="waiter-2")
        await client.wait_for_orchestration_start("waiter-2", timeout=30)
        await client.schedule_new_orchestration("sender", input="waiter-2", instance_id="sender-1")
        for iid in ("waiter-1", "waiter-2", "sender-1"):
            state = await client.wait_for_orchestration_completion(iid, timeout=30)
            assert state.runtime_status.value == "Completed", iid
    spans: list[Any] = list(exporter.get_finished_spans())
    raised = [s for s in spans if s.name == "orchestration_event:go"]
    by_target = Counter(s.attributes["durabletask.event.instance_id"] for s in raised)
    assert by_target == {"waiter-1": 1, "waiter-2": 1}  # the client's, and the one "sender" sent
    sent = next(s for s in raised if s.attributes["durabletask.event.instance_id"] == "waiter-2")
    sender_run = next(
        s
        for s in spans
        if s.name == "orchestration:sender" and s.attributes["durabletask.task.instance_id"] == "sender-1"
    )
    assert sent.parent is not None and sent.parent.span_id == sender_run.context.span_id
    assert sent.kind.name == "PRODUCER"
