"""Group commit's pure part (``worker.pipeline.group_commit``): its settings, and ``run_group`` on the
real engine with activities run in this test's event loop. What it commits is event for event what the
step-by-step path writes; it stops at each documented bound; a run still going at the deadline, or one
that cannot start, ends the group with the work still to do as messages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from taskhub.errors import ConfigurationError
from taskhub.format.history import (
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    TaskCompletedEvent,
    TaskScheduledEvent,
)
from taskhub.model.app import App
from taskhub.model.tasks import when_all
from tests.builders import at, guids, started
from worker.engine.episode import Episode, EpisodeBuilder, decide_episode, run_episode
from worker.engine.in_process import decide
from worker.pipeline.group_commit import GroupCommitConfig, merge_episodes, run_group

app = App()


@app.orchestrator
def chain(ctx: Any, n: int) -> Any:
    total = 0
    for i in range(n):
        total += yield ctx.call_activity("inc", input=i)
    ctx.set_custom_status({"done": total})
    return total


@app.orchestrator
def fan(ctx: Any, n: int) -> Any:
    first = yield ctx.call_activity("inc", input=0)
    rest = yield when_all([ctx.call_activity("inc", input=i) for i in range(n)])
    timer = yield ctx.create_timer(timedelta(minutes=1))
    return [first, *rest, timer is None]


@app.orchestrator
def again(ctx: Any, n: int) -> Any:
    x = yield ctx.call_activity("inc", input=n)
    if n < 2:
        ctx.continue_as_new(n + 1)
        return None
    return x


def inc(value: int) -> int:
    return value + 1


class Runner:
    """Runs ``inc`` in this event loop; ``room`` runs at most, ``hold`` keeps runs from finishing."""

    def __init__(self, room: int = 1000, hold: bool = False) -> None:
        self.room = room
        self.hold = hold
        self.started: list[int] = []
        self.adopted: list[int] = []

    def start_in_memory(
        self, instance: OrchestrationInstance, event: TaskScheduledEvent
    ) -> asyncio.Future[Any]:
        if self.room <= 0:
            return None  # type: ignore[return-value]
        self.room -= 1
        self.started.append(event.event_id)
        future: asyncio.Future[HistoryEvent] = asyncio.get_running_loop().create_future()
        result = TaskCompletedEvent(
            task_scheduled_id=event.event_id, result=json.dumps(inc(json.loads(event.input or "0")))
        )
        if not self.hold:
            future.set_result(result)
        return future

    def adopt(self, instance: OrchestrationInstance, event: TaskScheduledEvent, run: Any, ttl: float) -> None:
        self.adopted.append(event.event_id)


async def _decide(builder: EpisodeBuilder, session: object | None) -> Episode:
    async def execute(work: Any) -> Any:
        return decide(app, work)

    return await decide_episode(execute, builder, session)


def _first(name: str, n: int) -> tuple[list[HistoryEvent], Episode]:
    start = started(name, n, instance_id="i")
    episode = run_episode(
        app, instance_id="i", past_events=[], incoming_events=[start], now=at(0), new_guid=guids()
    )
    return [], episode


def _step_by_step(name: str, n: int) -> list[Episode]:
    """The episodes the step-by-step path commits, one per activity completion."""
    past, episode = _first(name, n)
    episodes = [episode]
    while episode.runtime_status is OrchestrationStatus.RUNNING and episode.outbound:
        past = [*past, *episode.history]
        results = [
            TaskCompletedEvent(
                task_scheduled_id=o.event.event_id, result=json.dumps(inc(json.loads(o.event.input or "0")))
            )
            for o in episode.outbound
            if isinstance(o.event, TaskScheduledEvent)
        ]
        episode = run_episode(
            app,
            instance_id="i",
            past_events=past,
            incoming_events=results,
            now=at(len(episodes)),
            new_guid=guids(),
        )
        episodes.append(episode)
    return episodes


def _shape(history: Sequence[HistoryEvent]) -> list[tuple[str, int, Any]]:
    """Events without their timestamps (each episode stamps its own time)."""
    return [(type(e).__name__, e.event_id, getattr(e, "result", getattr(e, "input", None))) for e in history]


async def _group(name: str, n: int, config: GroupCommitConfig, runner: Runner) -> Any:
    past, first = _first(name, n)
    return await run_group(first, past=past, decide=_decide, activities=runner, config=config, sessions=True)


async def test_a_chain_commits_once_event_for_event_what_step_by_step_writes() -> None:
    group = await _group("chain", 10, GroupCommitConfig(max_events=1000, max_ms=60_000), Runner())
    steps = _step_by_step("chain", 10)
    assert group.steps == len(steps) == 11
    assert _shape(group.episode.history) == [row for e in steps for row in _shape(e.history)]
    assert group.episode.runtime_status is OrchestrationStatus.COMPLETED
    assert group.episode.output == "55"
    assert group.episode.custom_status == steps[-1].custom_status == '{"done":55}'
    assert group.episode.outbound == [] and group.running == []


async def test_a_long_chain_stops_at_the_event_bound() -> None:
    group = await _group("chain", 100, GroupCommitConfig(max_events=40, max_ms=60_000), Runner())
    # 4 events in the first episode, 4 per step after it: the step that reaches 40 is the last one
    assert len(group.episode.history) == 40 and group.steps == 10
    assert group.episode.runtime_status is OrchestrationStatus.RUNNING
    assert [o.event.event_id for o in group.episode.outbound] == [9]  # the next activity, as a work item
    assert group.running == []


async def test_a_run_still_going_at_the_deadline_ends_the_group_and_is_adopted() -> None:
    runner = Runner(hold=True)
    group = await _group("chain", 5, GroupCommitConfig(max_events=1000, max_ms=30), runner)
    assert group.steps == 1  # nothing finished in time: the first episode alone
    assert [o.event.event_id for o in group.episode.outbound] == [0]
    assert [(event.event_id, run.done()) for _, event, run in group.running] == [(0, False)]


async def test_a_fan_out_without_room_commits_at_once_with_every_work_item() -> None:
    runner = Runner(room=3)  # the first activity, then 2 of the 5 of the fan-out
    group = await _group("fan", 5, GroupCommitConfig(max_events=1000, max_ms=60_000), runner)
    assert group.steps == 2
    assert sorted(o.event.event_id for o in group.episode.outbound) == [1, 2, 3, 4, 5]
    assert [event.event_id for _, event, _ in group.running] == [1, 2]  # started: their work items adopt them


async def test_a_timer_ends_the_group() -> None:
    group = await _group("fan", 3, GroupCommitConfig(max_events=1000, max_ms=60_000), Runner())
    assert group.steps == 3  # start, after the first activity, after the fan-out: then it waits on a timer
    assert [o.kind for o in group.episode.outbound] == ["timer"]


async def test_a_step_that_continues_as_new_commits_the_new_execution_alone() -> None:
    group = await _group("again", 0, GroupCommitConfig(max_events=1000, max_ms=60_000), Runner())
    assert group.steps == 2  # it does not carry on past a continue-as-new
    episode = group.episode
    assert episode.continued_as_new and episode.new_execution_id == episode.execution_id
    # the new execution's history from its start (written from RowKey 0), not the old one's steps
    assert [type(e).__name__ for e in episode.history] == [
        "OrchestratorStartedEvent",
        "ExecutionStartedEvent",
        "TaskScheduledEvent",
        "OrchestratorCompletedEvent",
    ]
    assert episode.started.input == "1"
    assert [o.kind for o in episode.outbound] == ["activity"]


def test_merging_one_episode_is_that_episode() -> None:
    _, first = _first("chain", 3)
    assert merge_episodes([first]) is first


def test_settings_default_and_off() -> None:
    assert GroupCommitConfig.from_env({}) == GroupCommitConfig(enabled=True, max_events=96, max_ms=100.0)
    assert not GroupCommitConfig.from_env({"TASKHUB_GROUP_COMMIT": "0"}).enabled
    config = GroupCommitConfig.from_env(
        {"TASKHUB_GROUP_COMMIT_MAX_EVENTS": "500", "TASKHUB_GROUP_COMMIT_MAX_MS": "20"}
    )
    assert (config.max_events, config.max_ms) == (500, 20.0)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"TASKHUB_GROUP_COMMIT": "maybe"},
            "TASKHUB_GROUP_COMMIT: 'maybe' is invalid: use 1 (on, the default) or 0 (off)",
        ),
        ({"TASKHUB_GROUP_COMMIT_MAX_EVENTS": "0"}, "use a whole number from 1 to 10000 (default 96)"),
        ({"TASKHUB_GROUP_COMMIT_MAX_MS": "fast"}, "use a whole number from 1 to 60000 (default 100)"),
    ],
)
def test_a_bad_setting_is_a_one_line_error(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        GroupCommitConfig.from_env(env)
    assert says in str(err.value) and "\n" not in str(err.value)
