"""External events: early events are buffered FIFO per name, names match case-insensitively; send_event."""

from __future__ import annotations

from typing import Any

from taskhub.model.app import App
from tests.builders import (
    at,
    event_raised,
    event_sent,
    orchestrator_started,
    replay,
    started,
    task_completed,
    task_scheduled,
)
from worker.engine.state import SendEvent

app = App()


@app.orchestrator
def collect(ctx: Any, n: int) -> Any:
    values = []
    for _ in range(n):
        values.append((yield ctx.wait_for_external_event("Item")))
    return values


def test_event_completes_a_waiting_task() -> None:
    result = replay(
        app,
        [orchestrator_started(), started("collect", 1)],
        [orchestrator_started(at(1)), event_raised("Item", {"id": 7})],
    )

    assert result.completion is not None and result.completion.result == '[{"id":7}]'


def test_event_names_match_case_insensitively() -> None:
    result = replay(app, [orchestrator_started(), started("collect", 1)], [event_raised("ITEM", "x")])

    assert result.completion is not None and result.completion.result == '["x"]'


def test_other_names_do_not_complete_the_wait() -> None:
    result = replay(app, [orchestrator_started(), started("collect", 1)], [event_raised("Other", "x")])

    assert result.completion is None


early = App()


@early.orchestrator
def early_bird(ctx: Any, _: Any) -> Any:
    yield ctx.call_activity("slow")
    first = yield ctx.wait_for_external_event("go")
    second = yield ctx.wait_for_external_event("Go")
    return [first, second]


def test_events_arriving_before_the_wait_are_buffered_first_in_first_out() -> None:
    past = [orchestrator_started(), started("early_bird"), task_scheduled(0, "slow")]
    waiting = replay(early, past, [orchestrator_started(at(1)), event_raised("GO", 1), event_raised("go", 2)])
    assert waiting.completion is None  # still waiting for the activity

    done = replay(
        early,
        [*past, orchestrator_started(at(1)), event_raised("GO", 1), event_raised("go", 2)],
        [orchestrator_started(at(2)), task_completed(0)],
    )
    assert done.completion is not None and done.completion.result == "[1,2]"


def test_several_events_in_one_batch_reach_successive_waits() -> None:
    result = replay(
        app,
        [orchestrator_started(), started("collect", 3)],
        [event_raised(n, n) for n in ("item", "Item", "ITEM")],
    )

    assert result.completion is not None and result.completion.result == '["item","Item","ITEM"]'


sender = App()


@sender.orchestrator
def notify(ctx: Any, target: str) -> Any:
    ctx.send_event(target, "Ping", data={"from": ctx.instance_id})
    yield ctx.wait_for_external_event("Pong")
    return "ok"


def test_send_event_is_an_action_with_an_id() -> None:
    result = replay(sender, [], [orchestrator_started(), started("notify", "other")])

    assert result.actions == [SendEvent(0, "other", "Ping", '{"from":"inst1"}')]


def test_send_event_replays_against_event_sent() -> None:
    result = replay(
        sender,
        [
            orchestrator_started(),
            started("notify", "other"),
            event_sent(0, "other", "Ping", {"from": "inst1"}),
        ],
        [event_raised("pong")],
    )

    assert result.actions == []
    assert result.completion is not None and result.completion.result == '"ok"'
