"""Extended sessions: an orchestrator carries on between episodes instead of replaying from the start.

The episode driver (``tests.builders.Driver``) already runs every episode both ways and compares them;
these tests show what carrying on saves and where it stops.
"""

from __future__ import annotations

from typing import Any

from taskhub.format.history import OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.tasks import when_all
from tests.builders import Driver, at, event_raised, task_completed
from worker.engine.episode import run_episode

app = App()
RUNS: list[str] = []


@app.orchestrator
def counted_chain(ctx: Any, n: int) -> Any:
    total = 0
    for i in range(n):
        RUNS.append(f"step {i}")  # not replay-safe on purpose: it shows how often the code runs
        total += yield ctx.call_activity("add", input=i)
    return total


@app.orchestrator
def fan(ctx: Any, n: int) -> Any:
    results = yield when_all([ctx.call_activity("work", input=i) for i in range(n)])
    return sum(results)


@app.orchestrator
def waits(ctx: Any, _: Any) -> Any:
    return (yield ctx.wait_for_external_event("go"))


def test_a_chain_runs_each_step_of_its_code_once_when_it_carries_on() -> None:
    RUNS.clear()
    driver = Driver(app, sessions=False)
    driver.start("counted_chain", 4)
    for i in range(4):
        driver.run(task_completed(i, i), now=at(i + 1))
    replayed = len(RUNS)

    RUNS.clear()
    carried = Driver(app, sessions=False)
    first = carried.start("counted_chain", 4)
    session = first.session
    history = list(first.history)
    for i in range(4):
        episode = run_episode(
            app,
            instance_id=carried.instance_id,
            past_events=history,
            incoming_events=[task_completed(i, i)],
            now=at(i + 1),
            new_guid=carried.new_guid,
            session=session,
        )
        history += episode.history
        session = episode.session

    assert episode.runtime_status is OrchestrationStatus.COMPLETED and episode.output == "6"
    assert session is None  # nothing to carry on once the execution ended
    assert [f"step {i}" for i in range(4)] == RUNS  # each step once
    assert replayed == 1 + 2 + 3 + 4 + 4  # each replay runs every earlier step again


def test_a_fan_out_carries_on_over_completions_that_arrive_in_small_batches() -> None:
    driver = Driver(app)
    driver.start("fan", 6)
    for first in range(0, 6, 2):
        episode = driver.run(task_completed(first, 1), task_completed(first + 1, 2), now=at(first + 1))
    assert episode.runtime_status is OrchestrationStatus.COMPLETED and episode.output == "9"
    assert driver.resumed == 3


def test_an_episode_with_only_an_event_nobody_waits_for_yet_carries_on() -> None:
    driver = Driver(app)
    driver.start("waits")
    driver.run(event_raised("other", 1), now=at(1))
    episode = driver.run(event_raised("go", "now"), now=at(2))
    assert episode.output == '"now"' and driver.resumed == 2


def test_a_session_refuses_a_history_shorter_than_what_it_has_seen() -> None:
    driver = Driver(app)
    first = driver.start("waits")
    assert first.session is not None
    try:
        first.session.resume([], [])
    except ValueError as err:
        assert "start a new one" in str(err)
    else:
        raise AssertionError("resume over a shorter history was accepted")
