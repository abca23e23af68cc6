"""HistoryIndex: built once, extended per episode, it knows what a scan of the whole history would."""

from __future__ import annotations

from typing import Any

from taskhub.model.app import App
from taskhub.model.tasks import when_all
from tests.builders import Driver, at, task_completed, timer_fired
from worker.engine.history_index import HistoryIndex

app = App()


@app.orchestrator
def fan_then_wait(ctx: Any, n: int) -> Any:
    results = yield when_all([ctx.call_activity("work", input=i) for i in range(n)])
    yield ctx.create_timer(at(60))
    return sum(results)


def test_extending_per_episode_gives_what_indexing_the_whole_history_gives() -> None:
    driver = Driver(app)
    extended = HistoryIndex(driver.start("fan_then_wait", 4, now=at(0)).history)
    assert extended.started is not None and extended.started.name == "fan_then_wait"
    assert extended.scheduled == {0, 1, 2, 3} and extended.completed == set() and not extended.terminal

    for i in range(4):
        extended.extend(driver.run(task_completed(i, i), now=at(i + 1)).history)
    assert extended.scheduled == {0, 1, 2, 3, 4}  # the timer is id 4
    assert extended.completed == {0, 1, 2, 3} and not extended.terminal

    extended.extend(driver.run(timer_fired(4, at(60)), now=at(60)).history)
    whole = HistoryIndex(driver.history)
    assert extended.terminal and whole.terminal
    assert (extended.scheduled, extended.completed, extended.episodes, extended.events) == (
        whole.scheduled,
        whole.completed,
        whole.episodes,
        whole.events,
    )
    assert whole.episodes == 6 and whole.events == len(driver.history)
