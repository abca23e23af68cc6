"""The SDK's view of a history kept between episodes (pure): the same messages as translating it anew,
reused only for the very same event objects, never changed by the id rewriting of retried actions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from taskhub.format.history import (
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationInstance,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TaskScheduledEvent,
)
from worker.sidecar.decisions import REUSED_ID_BASE, SDK_ID_TAG, to_sdk
from worker.sidecar.shown import ShownHistories

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _episode(i: int) -> list[HistoryEvent]:
    return [
        OrchestratorStartedEvent(timestamp=NOW),
        TaskScheduledEvent(event_id=i, name="echo", version="", input=str(i), timestamp=NOW),
        OrchestratorCompletedEvent(timestamp=NOW),
        TaskCompletedEvent(task_scheduled_id=i, result=str(i), timestamp=NOW),
    ]


START: list[HistoryEvent] = [
    OrchestratorStartedEvent(timestamp=NOW),
    ExecutionStartedEvent(
        orchestration_instance=OrchestrationInstance("i1", "e1"),
        name="orch",
        version="",
        input="3",
        timestamp=NOW,
    ),
]


def test_a_growing_history_is_translated_once_per_event_and_shown_as_before() -> None:
    shown = ShownHistories()
    history = list(START)
    for step in range(3):
        history += _episode(step)
        assert shown.to_sdk("i1", history) == to_sdk(history)
    # each call reused every event of the call before: 6 + 10 events
    assert shown.reused == len(START) + 4 + len(START) + 8


def test_an_equal_but_new_event_object_is_translated_again() -> None:
    shown = ShownHistories()
    history = [*START, *_episode(0)]
    shown.to_sdk("i1", history)
    reloaded = [replace(e) for e in history]  # a history read back from storage: equal, not the same
    assert shown.to_sdk("i1", reloaded) == to_sdk(history)
    assert shown.reused == 0


def test_a_retried_action_s_id_rewriting_leaves_the_kept_messages_alone() -> None:
    retry = TaskScheduledEvent(
        event_id=REUSED_ID_BASE, name="echo", version="", input="1", tags={SDK_ID_TAG: "1"}, timestamp=NOW
    )
    history: list[HistoryEvent] = [
        *START,
        TaskScheduledEvent(event_id=1, name="echo", version="", input="1", timestamp=NOW),
        TaskFailedEvent(task_scheduled_id=1, reason="boom", timestamp=NOW),
        retry,
        TaskCompletedEvent(task_scheduled_id=REUSED_ID_BASE, result="2", timestamp=NOW),
    ]
    shown = ShownHistories()
    first = shown.to_sdk("i1", history)
    again = shown.to_sdk("i1", history)
    assert first == again == to_sdk(history)
    assert again[4].eventId == 1 and dict(again[4].taskScheduled.tags) == {}  # the SDK's id, not ours
    assert again[5].taskCompleted.taskScheduledId == 1
    assert shown.reused == len(history)


def test_the_least_recently_run_instances_are_let_go() -> None:
    shown = ShownHistories(limit=1)
    a, b = [*START, *_episode(0)], [*START, *_episode(1)]
    shown.to_sdk("a", a)
    shown.to_sdk("b", b)
    shown.to_sdk("a", a)  # "a" was let go when "b" ran: translated again
    assert shown.reused == 0
    shown.to_sdk("a", a)
    assert shown.reused == len(a)
    shown.forget("a")
    shown.to_sdk("a", a)
    assert shown.reused == len(a)
