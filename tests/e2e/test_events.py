"""External events: buffering before anyone waits, FIFO per name, case-insensitive names, and
the race of an event against a timer."""

from __future__ import annotations

import time
from datetime import timedelta

from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import OrchestrationContext
from taskhub.model.tasks import when_any
from tests.e2e.conftest import E2E

app = App()


@app.orchestrator
def collect_after_go(ctx: OrchestrationContext, count: int):  # type: ignore[no-untyped-def]
    go = yield ctx.wait_for_external_event("Go")
    items = []
    for _ in range(count):
        items.append((yield ctx.wait_for_external_event("Item")))
    return {"go": go, "items": items}


@app.orchestrator
def event_or_timeout(ctx: OrchestrationContext, seconds: int):  # type: ignore[no-untyped-def]
    timer = ctx.create_timer(timedelta(seconds=seconds))
    answer = ctx.wait_for_external_event("Answer")
    winner = yield when_any([answer, timer])
    if winner is answer:
        timer.cancel()
        return {"answer": answer.get_result()}
    return "timed out"


@app.orchestrator
def sender(ctx: OrchestrationContext, target: str):  # type: ignore[no-untyped-def]
    ctx.send_event(target, "Note", data={"from": ctx.instance_id})
    reply = yield ctx.wait_for_external_event("Reply")
    return reply


@app.orchestrator
def receiver(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    note = yield ctx.wait_for_external_event("note")
    ctx.send_event(note["from"], "Reply", data="got it")
    return note


@app.orchestrator
def two_names(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    a = yield ctx.wait_for_external_event("A")
    b = yield ctx.wait_for_external_event("B")
    return [a, b]


async def test_events_raised_before_anyone_waits_are_buffered_fifo_and_case_insensitive(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(collect_after_go, input=3)
    await e2e.client.wait_for_orchestration_start(iid, timeout=20)
    # the orchestrator waits for "Go"; these arrive before it waits for "Item"
    for name, data in (("ITEM", 1), ("item", {"two": 2}), ("Item", [3])):
        await e2e.client.raise_orchestration_event(iid, name, data=data)
    await e2e.wait_for_event(iid, EventType.EventRaised, count=3)
    await e2e.client.raise_orchestration_event(iid, "go", data="now")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output == {"go": "now", "items": [1, {"two": 2}, [3]]}
    raised = [(e.name, e.input) for e in await e2e.history(iid) if e.event_type is EventType.EventRaised]
    assert raised == [("ITEM", "1"), ("item", '{"two":2}'), ("Item", "[3]"), ("go", '"now"')]


async def test_events_of_different_names_do_not_mix(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(two_names)
    await e2e.client.wait_for_orchestration_start(iid, timeout=20)
    await e2e.client.raise_orchestration_event(iid, "b", data="bee")
    await e2e.client.raise_orchestration_event(iid, "a", data="ay")
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.output == ["ay", "bee"]


async def test_a_cancelled_timer_does_not_hold_the_orchestration(e2e: E2E) -> None:
    began = time.monotonic()
    iid = await e2e.client.schedule_new_orchestration(event_or_timeout, input=600)
    await e2e.wait_for_event(iid, EventType.TimerCreated)
    await e2e.client.raise_orchestration_event(iid, "answer", data=42)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output == {"answer": 42}
    assert time.monotonic() - began < 60
    history = await e2e.history(iid)
    timer = next(e for e in history if e.event_type is EventType.TimerCreated)
    assert (timer.fire_at - history[0].timestamp).total_seconds() > 590
    assert not [e for e in history if e.event_type is EventType.TimerFired]
    assert history[-2].event_type is EventType.ExecutionCompleted


async def test_the_timer_wins_when_no_event_comes(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(event_or_timeout, input=1)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)
    assert state.output == "timed out"
    history = await e2e.history(iid)
    fired = next(e for e in history if e.event_type is EventType.TimerFired)
    started = [e for e in history if e.event_type is EventType.OrchestratorStarted]
    assert started[-1].timestamp >= fired.fire_at  # orchestration time passed the due time


async def test_orchestrations_send_each_other_events(e2e: E2E) -> None:
    await e2e.client.schedule_new_orchestration(receiver, instance_id="inbox")
    await e2e.client.wait_for_orchestration_start("inbox", timeout=20)
    await e2e.client.schedule_new_orchestration(sender, input="inbox", instance_id="outbox")
    sent = await e2e.client.wait_for_orchestration_completion("outbox", timeout=20)
    received = await e2e.client.wait_for_orchestration_completion("inbox", timeout=20)

    assert sent.output == "got it"
    assert received.output == {"from": "outbox"}
    event_sent = next(e for e in await e2e.history("outbox") if e.event_type is EventType.EventSent)
    assert (event_sent.event_id, event_sent.instance_id, event_sent.name) == (0, "inbox", "Note")
    raised = [e for e in await e2e.history("inbox") if e.event_type is EventType.EventRaised]
    assert [(e.name, e.input) for e in raised] == [("Note", '{"from":"outbox"}')]
