"""Replay that diverges from history fails the execution with NonDeterminismError saying how."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from taskhub.format.history import FailureDetails, HistoryEvent, OrchestrationStatus
from taskhub.model.app import App
from tests.builders import (
    at,
    orchestrator_started,
    replay,
    started,
    task_completed,
    task_scheduled,
    timer_created,
)

app = App()


@app.orchestrator
def renamed(ctx: Any, _: Any) -> Any:
    yield ctx.call_activity("say_goodbye")  # was "say_hello" when the history was written
    yield ctx.call_activity("after")


@app.orchestrator
def now_a_timer(ctx: Any, _: Any) -> Any:
    yield ctx.create_timer(timedelta(minutes=5))  # was an activity
    yield ctx.call_activity("after")


@app.orchestrator
def shorter(ctx: Any, _: Any) -> Any:
    yield ctx.call_activity("only_one")
    return "done early"


def failed_with(past: list[HistoryEvent], new: list[HistoryEvent] | None = None) -> FailureDetails:
    result = replay(app, past, new or [])
    assert result.completion is not None
    assert result.completion.status is OrchestrationStatus.FAILED
    assert result.actions == []  # nothing the diverged code asked for goes out
    assert result.completion.failure_details is not None
    return result.completion.failure_details


def test_changed_activity_name() -> None:
    details = failed_with(
        [orchestrator_started(), started("renamed"), task_scheduled(0, "say_hello")],
        [orchestrator_started(at(1)), task_completed(0)],
    )

    assert details.error_type == "taskhub.errors.NonDeterminismError"
    assert "EventId 0" in details.message
    assert "history holds TaskScheduled for activity 'say_hello'" in details.message
    assert "the code now scheduled activity 'say_goodbye'" in details.message


def test_activity_replaced_by_a_timer() -> None:
    details = failed_with([orchestrator_started(), started("now_a_timer"), task_scheduled(0, "charge_card")])

    assert details.error_type == "taskhub.errors.NonDeterminismError"
    assert "EventId 0" in details.message
    assert "TaskScheduled for activity 'charge_card'" in details.message
    assert "created a timer firing at 2024-05-01T12:05:00+00:00" in details.message


def test_timer_replaced_by_an_activity() -> None:
    details = failed_with([orchestrator_started(), started("renamed"), timer_created(0, at(300))])

    assert "history holds TimerCreated firing at 2024-05-01T12:05:00+00:00" in details.message
    assert "scheduled activity 'say_goodbye'" in details.message


def test_code_that_now_makes_fewer_calls() -> None:
    details = failed_with(
        [
            orchestrator_started(),
            started("shorter"),
            task_scheduled(0, "only_one"),
            orchestrator_started(at(1)),
            task_completed(0),
            task_scheduled(1, "second"),
        ]
    )

    assert "EventId 1" in details.message
    assert "TaskScheduled for activity 'second'" in details.message
    assert "completed after" in details.message
