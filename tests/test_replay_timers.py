"""Durable timers: relative and absolute, long timers carried by a chain, naive datetimes rejected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import worker.engine.context
from taskhub.format.history import OrchestrationStatus, TimerCreatedEvent, TimerFiredEvent
from taskhub.model.app import App
from tests.builders import T0, Driver, at, orchestrator_started, replay, started, timer_created, timer_fired
from worker.engine.state import CreateTimer

app = App()


@app.orchestrator
def sleeper(ctx: Any, days: float) -> Any:
    yield ctx.create_timer(timedelta(days=days))
    return ctx.current_utc_datetime.isoformat()


@app.orchestrator
def absolute(ctx: Any, _: Any) -> Any:
    tokyo = timezone(timedelta(hours=9))
    yield ctx.create_timer(datetime(2024, 5, 2, 9, 0, tzinfo=tokyo))
    return "woke"


@app.orchestrator
def naive(ctx: Any, _: Any) -> Any:
    yield ctx.create_timer(datetime(2024, 5, 2, 0, 0))


def test_relative_timer_fires_at_now_plus_delta() -> None:
    result = replay(app, [], [orchestrator_started(), started("sleeper", 1)])

    assert result.actions == [CreateTimer(0, at(days=1))]


def test_timer_completes_when_it_fires() -> None:
    result = replay(
        app,
        [orchestrator_started(), started("sleeper", 1), timer_created(0, at(days=1))],
        [orchestrator_started(at(days=1, seconds=2)), timer_fired(0, at(days=1))],
    )

    assert result.completion is not None
    assert result.completion.result == f'"{at(days=1, seconds=2).isoformat()}"'


def test_aware_datetimes_are_converted_to_utc() -> None:
    result = replay(app, [], [orchestrator_started(), started("absolute")])

    assert result.actions == [CreateTimer(0, datetime(2024, 5, 2, 0, 0, tzinfo=UTC))]
    assert result.actions[0].fire_at.utcoffset() == timedelta(0)  # type: ignore[union-attr]


def test_naive_datetime_is_rejected() -> None:
    result = replay(app, [], [orchestrator_started(), started("naive")])

    assert result.completion is not None
    assert result.completion.status is OrchestrationStatus.FAILED
    details = result.completion.failure_details
    assert details is not None and details.error_type == "ValueError"
    assert "timezone-aware" in details.message and "naive" in details.message
    assert result.actions == []


def test_ten_day_timer_is_carried_by_a_chain_of_three_day_links() -> None:
    driver = Driver(app)
    first = driver.start("sleeper", 10)
    fire_times = [first.history[2]]
    assert isinstance(fire_times[0], TimerCreatedEvent)
    assert fire_times[0].fire_at == at(days=3)
    assert [o.visible_at for o in first.outbound] == [at(days=3)]

    second = driver.run(timer_fired(0, at(days=3)), now=at(days=3))
    assert second.runtime_status is OrchestrationStatus.RUNNING
    links = [e for e in second.history if isinstance(e, TimerCreatedEvent)]
    assert [(e.event_id, e.fire_at) for e in links] == [(1, at(days=6))]

    # 4 days remain, within the 6-day limit: the last link is due at the requested time.
    third = driver.run(timer_fired(1, at(days=6)), now=at(days=6))
    links = [e for e in third.history if isinstance(e, TimerCreatedEvent)]
    assert [(e.event_id, e.fire_at) for e in links] == [(2, at(days=10))]
    timer_message = third.outbound[0]
    assert isinstance(timer_message.event, TimerFiredEvent)
    assert timer_message.event.timer_id == 2 and timer_message.visible_at == at(days=10)

    done = driver.run(timer_fired(2, at(days=10)), now=at(days=10))
    assert done.runtime_status is OrchestrationStatus.COMPLETED
    assert done.output == f'"{at(days=10).isoformat()}"'


def test_chain_constants_can_be_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker.engine.context, "MAXIMUM_SHORT_TIMER_DURATION", timedelta(hours=1))
    monkeypatch.setattr(worker.engine.context, "LONG_RUNNING_TIMER_INTERVAL", timedelta(minutes=30))
    driver = Driver(app)
    fired: list[datetime] = []
    episode = driver.start("sleeper", 2 / 24)
    for _ in range(5):
        if episode.runtime_status is not OrchestrationStatus.RUNNING:
            break
        created = [e for e in episode.history if isinstance(e, TimerCreatedEvent)]
        assert created[0].fire_at is not None
        fired.append(created[0].fire_at)
        episode = driver.run(timer_fired(created[0].event_id, created[0].fire_at), now=created[0].fire_at)

    assert fired == [at(minutes=30), at(minutes=60), at(minutes=120)]
    assert episode.runtime_status is OrchestrationStatus.COMPLETED


def test_timer_replays_without_new_actions() -> None:
    result = replay(
        app, [orchestrator_started(), started("sleeper", 1), timer_created(0, T0 + timedelta(days=1))]
    )

    assert result.actions == []
    assert result.completion is None
