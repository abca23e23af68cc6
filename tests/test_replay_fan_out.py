"""Fan-out/fan-in with when_all, and racing with when_any (the losing timer is cancelled)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from taskhub.errors import TaskFailedError
from taskhub.format.history import OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.tasks import when_all, when_any
from tests.builders import (
    at,
    event_raised,
    orchestrator_started,
    replay,
    started,
    task_completed,
    task_failed,
    task_scheduled,
    timer_created,
    timer_fired,
)
from worker.engine.state import CreateTimer, ScheduleTask

app = App()
outcomes: list[Any] = []


@app.orchestrator
def fan_out(ctx: Any, items: list[str]) -> Any:
    tasks = [ctx.call_activity("work", input=item) for item in items]
    try:
        results = yield when_all(tasks)
    except TaskFailedError as exc:
        outcomes.append(("failed", exc.details.message, [t.is_complete for t in tasks]))
        return "partial"
    return results


FAN_OUT_PAST = [
    orchestrator_started(),
    started("fan_out", ["a", "b", "c"]),
    task_scheduled(0, "work", "a"),
    task_scheduled(1, "work", "b"),
    task_scheduled(2, "work", "c"),
]


def test_fan_out_schedules_every_activity_in_one_episode() -> None:
    result = replay(app, [], FAN_OUT_PAST[:2])

    assert result.actions == [
        ScheduleTask(0, "work", '"a"'),
        ScheduleTask(1, "work", '"b"'),
        ScheduleTask(2, "work", '"c"'),
    ]


def test_fan_in_waits_for_all_and_keeps_input_order() -> None:
    partial = replay(
        app, FAN_OUT_PAST, [orchestrator_started(at(1)), task_completed(2, "C"), task_completed(0, "A")]
    )
    assert partial.completion is None

    done = replay(
        app,
        [*FAN_OUT_PAST, orchestrator_started(at(1)), task_completed(2, "C"), task_completed(0, "A")],
        [orchestrator_started(at(2)), task_completed(1, "B")],
    )
    assert done.completion is not None
    assert done.completion.result == '["A","B","C"]'


def test_one_failing_child_raises_only_after_all_have_finished() -> None:
    outcomes.clear()
    after_failure = replay(app, FAN_OUT_PAST, [orchestrator_started(at(1)), task_failed(1, "b broke")])
    assert after_failure.completion is None
    assert outcomes == []

    done = replay(
        app,
        [*FAN_OUT_PAST, orchestrator_started(at(1)), task_failed(1, "b broke")],
        [orchestrator_started(at(2)), task_completed(0, "A"), task_completed(2, "C")],
    )
    assert done.completion is not None and done.completion.result == '"partial"'
    assert outcomes == [("failed", "b broke", [True, True, True])]


def test_when_all_failure_is_the_first_in_input_order() -> None:
    outcomes.clear()
    replay(
        app,
        FAN_OUT_PAST,
        [
            orchestrator_started(at(1)),
            task_failed(2, "c first"),
            task_failed(0, "a second"),
            task_completed(1),
        ],
    )
    assert outcomes[0][1] == "a second"  # task 0 comes first in input order, though c failed first


race = App()
timers: list[Any] = []


@race.orchestrator
def approval(ctx: Any, _: Any) -> Any:
    timeout = ctx.create_timer(timedelta(hours=72))
    timers.append(timeout)
    answer = ctx.wait_for_external_event("Approval")
    winner = yield when_any([answer, timeout])
    if winner is answer:
        timeout.cancel()
        return (yield ctx.call_activity("process", input=answer.get_result()))
    return "escalated"


RACE_PAST = [orchestrator_started(), started("approval"), timer_created(0, at(hours=72))]


def test_when_any_returns_the_winning_task_and_the_cancelled_timer_is_ignored() -> None:
    won = replay(race, RACE_PAST, [orchestrator_started(at(60)), event_raised("Approval", True)])
    assert won.actions == [ScheduleTask(1, "process", "true")]

    # The timer fires later: the cancelled task stays incomplete and nothing new is scheduled.
    timers.clear()
    after_fire = replay(
        race,
        [
            *RACE_PAST,
            orchestrator_started(at(60)),
            event_raised("Approval", True),
            task_scheduled(1, "process", True),
        ],
        [orchestrator_started(at(hours=72)), timer_fired(0, at(hours=72))],
    )
    assert after_fire.actions == []
    assert after_fire.completion is None
    assert timers[0].is_cancelled and not timers[0].is_complete

    done = replay(
        race,
        [
            *RACE_PAST,
            orchestrator_started(at(60)),
            event_raised("Approval", True),
            task_scheduled(1, "process", True),
            orchestrator_started(at(hours=72)),
            timer_fired(0, at(hours=72)),
        ],
        [orchestrator_started(at(hours=73)), task_completed(1, "approved")],
    )
    assert done.completion is not None
    assert done.completion.status is OrchestrationStatus.COMPLETED
    assert done.completion.result == '"approved"'


def test_when_any_timer_wins() -> None:
    result = replay(race, RACE_PAST, [orchestrator_started(at(hours=72)), timer_fired(0, at(hours=72))])

    assert result.completion is not None and result.completion.result == '"escalated"'


def test_first_episode_of_the_race_creates_only_the_timer() -> None:
    result = replay(race, [], RACE_PAST[:2])

    assert result.actions == [CreateTimer(0, at(hours=72))]
