"""continue_as_new: a new execution in the same episode, carried events, what the old one still sends."""

from __future__ import annotations

from typing import Any

import pytest

import worker.engine.episode
from taskhub.format.history import (
    EventRaisedEvent,
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    OrchestrationStatus,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
)
from taskhub.model.app import App
from tests.builders import Driver, at, event_raised, started

app = App()


@app.orchestrator
def counter(ctx: Any, n: int) -> Any:
    ctx.set_custom_status({"generation": n})
    if n < 20:
        ctx.continue_as_new(n + 1, save_events=True)
        return None
    a = yield ctx.wait_for_external_event("e")
    b = yield ctx.wait_for_external_event("e")
    return [n, a, b, ctx.execution_id]


@app.orchestrator
def forgetful(ctx: Any, n: int) -> Any:
    if n < 1:
        ctx.continue_as_new(n + 1)
        return None
    return (yield ctx.wait_for_external_event("e"))


@app.orchestrator
def accumulate(ctx: Any, total: int) -> Any:
    x = yield ctx.wait_for_external_event("add")
    if x is None:
        return total
    ctx.send_event("audit", "added", data=x)
    ctx.call_activity("never_runs")
    ctx.continue_as_new(total + x)


def test_twenty_continues_in_one_episode_carry_the_saved_events() -> None:
    driver = Driver(app)
    episode = driver.run(started("counter", 0), event_raised("e", 1), event_raised("E", 2))

    assert episode.continued_as_new
    assert episode.new_execution_id == f"{20:032x}"  # one new_guid() per continue
    assert episode.execution_id == episode.new_execution_id
    assert episode.runtime_status is OrchestrationStatus.COMPLETED
    assert episode.output == f'[20,1,2,"{episode.new_execution_id}"]'
    assert episode.custom_status == '{"generation":20}'
    kinds = [type(e) for e in episode.history]
    assert kinds == [
        OrchestratorStartedEvent,
        ExecutionStartedEvent,
        EventRaisedEvent,
        EventRaisedEvent,
        ExecutionCompletedEvent,
        OrchestratorCompletedEvent,
    ]
    new_start = episode.history[1]
    assert isinstance(new_start, ExecutionStartedEvent)
    assert new_start.input == "20" and new_start.name == "counter"
    assert new_start.orchestration_instance is not None
    assert new_start.orchestration_instance.execution_id == episode.new_execution_id
    assert [e.input for e in episode.history if isinstance(e, EventRaisedEvent)] == ["1", "2"]
    assert episode.history[4].event_id == 0  # the new execution's first action id


def test_without_save_events_buffered_events_are_dropped() -> None:
    driver = Driver(app)
    episode = driver.run(started("forgetful", 0), event_raised("e", "lost"))

    assert episode.continued_as_new
    assert episode.runtime_status is OrchestrationStatus.RUNNING
    assert not [e for e in episode.history if isinstance(e, EventRaisedEvent)]


def test_continue_after_waiting_starts_a_fresh_history_with_the_same_identity() -> None:
    driver = Driver(app)
    first = driver.run(started("accumulate", 0, tags={"t": "1"}))
    assert not first.continued_as_new and first.new_execution_id is None

    second = driver.run(event_raised("add", 5), now=at(10))
    assert second.continued_as_new
    assert second.runtime_status is OrchestrationStatus.RUNNING
    assert [type(e) for e in second.history] == [
        OrchestratorStartedEvent,
        ExecutionStartedEvent,
        OrchestratorCompletedEvent,
    ]
    start = second.started
    assert start.input == "5" and start.tags == {"t": "1"} and start.generation == 0
    assert start.timestamp == at(10)
    # The old execution's event to another instance goes out; its activity does not.
    assert [(m.kind, m.target.instance_id, m.event.name) for m in second.outbound] == [  # type: ignore[attr-defined]
        ("orchestrator", "audit", "added")
    ]

    third = driver.run(event_raised("add", 2), now=at(20))
    assert third.started.input == "7"
    done = driver.run(event_raised("add"), now=at(30))
    assert done.runtime_status is OrchestrationStatus.COMPLETED
    assert done.output == "7"
    assert done.execution_id == third.execution_id


def test_endless_immediate_continues_fail_instead_of_spinning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker.engine.episode, "MAX_CONTINUE_AS_NEW_PER_EPISODE", 3)
    local = App()

    @local.orchestrator
    def forever(ctx: Any, n: int) -> None:
        ctx.continue_as_new(n + 1)

    episode = Driver(local).run(started("forever", 0))

    assert episode.runtime_status is OrchestrationStatus.FAILED
    assert episode.started.input == "3"
    assert episode.failure_details is not None
    assert "continued as new 3 times" in episode.failure_details.message
