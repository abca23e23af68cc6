"""Triage of an orchestration work item (worker.pipeline.triage, runtime.md 7.3-7.4): which messages run,
which are dropped and which come back later, decided from the history and the Instances row alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from taskhub.format.history import (
    ExecutionCompletedEvent,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
)
from taskhub.format.rows import HistoryLoad
from tests.builders import (
    EXECUTION,
    INSTANCE,
    T0,
    orchestrator_completed,
    orchestrator_started,
    started,
    task_completed,
    task_scheduled,
)
from worker.pipeline.triage import START_DEDUPE_DEQUEUE_COUNT, triage


@dataclass
class Message:
    """A message of a work item as the pipeline sees it (``worker.backends.base.WorkMessage``)."""

    event: HistoryEvent
    dequeue_count: int = 1
    sent: datetime = T0
    message_id: str = "m"
    instance: OrchestrationInstance = field(default_factory=lambda: OrchestrationInstance(INSTANCE, EXECUTION))

    @property
    def order_key(self) -> tuple[datetime, int]:
        return (self.sent, 0)


def running() -> HistoryLoad:
    """An execution waiting for activity 0."""
    events = [orchestrator_started(), started("f"), task_scheduled(0, "A"), orchestrator_completed()]
    return HistoryLoad(events, "etag", EXECUTION)


def reasons(pairs: list[tuple[Message, str]]) -> list[str]:
    return [why for _, why in pairs]


def test_a_completion_runs_once_and_its_duplicate_is_dropped() -> None:
    first, again = Message(task_completed(0, 1)), Message(task_completed(0, 1), sent=T0 + timedelta(seconds=1))
    t = triage(running(), [again, first])
    assert t.run == [first]
    assert reasons(t.discard) == ["duplicate completion of id 0"]


def test_a_completion_of_a_task_not_yet_in_history_comes_back_later() -> None:
    t = triage(running(), [Message(task_completed(5, 1))])
    assert t.run == [] and reasons(t.defer) == ["out of order: no scheduled event 5 in history yet"]


def test_a_start_before_its_instances_row_waits_then_is_dropped() -> None:
    start = started("f")
    early = triage(HistoryLoad(), [Message(start)], instance_row_exists=False)
    assert reasons(early.defer) == ["start message before its Instances row"] and early.run == []
    late = triage(HistoryLoad(), [Message(start, START_DEDUPE_DEQUEUE_COUNT)], instance_row_exists=False)
    assert reasons(late.discard) == ["start message whose Instances row never appeared"]


def test_a_start_of_an_instance_terminated_while_it_waited_is_dropped() -> None:
    t = triage(
        HistoryLoad(),
        [Message(started("f"))],
        instance_row_execution_id=EXECUTION,
        instance_row_status=OrchestrationStatus.TERMINATED,
    )
    assert t.run == []
    assert reasons(t.discard) == ["start message of an instance terminated before it started"]


def test_messages_for_another_execution_or_no_instance_are_dropped() -> None:
    other = Message(task_completed(0, 1), instance=OrchestrationInstance(INSTANCE, "e0"))
    t = triage(running(), [other])
    assert reasons(t.discard) == [f"message for execution e0, current is {EXECUTION}"]
    nothing = triage(HistoryLoad(), [Message(task_completed(0, 1), dequeue_count=9)])
    assert reasons(nothing.discard) == ["completion for an instance with no history"]


def test_a_new_start_of_a_finished_instance_restarts_it() -> None:
    finished = running()
    finished.events.append(ExecutionCompletedEvent(event_id=1, orchestration_status=OrchestrationStatus.COMPLETED))
    fresh = Message(started("f", execution_id="e2"), instance=OrchestrationInstance(INSTANCE, "e2"))
    t = triage(finished, [fresh], instance_row_execution_id="e2")
    assert t.run == [fresh] and t.restart
