"""What the sorting of a batch needs to know about an execution's history, kept up to date as it grows.

Sorting a batch (``worker.pipeline.orchestrations.triage``) asks: has the execution started, has it ended, which
ids have a decision event (a completion for any other id is early), which have a completion already (a
second one is a duplicate)? Scanning the history for that on every batch costs time that grows with the
history. The index answers from sets; a worker builds it once when it reads a history and extends it
with each episode's events. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from taskhub.format.history import (
    ContinueAsNewEvent,
    EventSentEvent,
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestratorStartedEvent,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceCreatedEvent,
    SubOrchestrationInstanceFailedEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
    TimerFiredEvent,
)

__all__ = ["HistoryIndex", "COMPLETIONS", "completion_id"]

COMPLETIONS = (
    TaskCompletedEvent,
    TaskFailedEvent,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceFailedEvent,
    TimerFiredEvent,
)
"""Events that answer a decision, by the decision's id."""
_DECISIONS = (TaskScheduledEvent, TimerCreatedEvent, SubOrchestrationInstanceCreatedEvent, EventSentEvent)
_ENDINGS = (ExecutionCompletedEvent, ContinueAsNewEvent)


def completion_id(event: HistoryEvent) -> int:
    """The id of the decision a completion answers."""
    if isinstance(event, TimerFiredEvent):
        return event.timer_id
    return int(getattr(event, "task_scheduled_id", -1))


class HistoryIndex:
    """Facts about one execution's history; ``extend`` with the events appended to it."""

    def __init__(self, events: Iterable[HistoryEvent] = ()) -> None:
        self.started: ExecutionStartedEvent | None = None
        self.terminal = False
        self.scheduled: set[int] = set()
        """Ids with a decision event (TaskScheduled, TimerCreated, SubOrchestrationInstanceCreated, EventSent)."""
        self.completed: set[int] = set()
        """Ids with a completion event."""
        self.episodes = 0
        """``OrchestratorStarted`` events: the episodes so far."""
        self.events = 0
        self.extend(events)

    def extend(self, events: Iterable[HistoryEvent]) -> None:
        for event in events:
            self.events += 1
            if isinstance(event, _DECISIONS):
                self.scheduled.add(event.event_id)
            elif isinstance(event, COMPLETIONS):
                self.completed.add(completion_id(event))
            elif isinstance(event, OrchestratorStartedEvent):
                self.episodes += 1
            elif isinstance(event, ExecutionStartedEvent):
                if self.started is None:
                    self.started = event
            elif isinstance(event, _ENDINGS):
                self.terminal = True
