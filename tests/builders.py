"""Small history builders and an in-memory episode driver for the pure replay tests.

Builders return DTFx history events as ``worker.episode`` writes them (EventId = action id for
decisions, -1 for everything that arrives from outside). Payload arguments are Python values; the
builders encode them as JSON text, as storage holds them.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from taskhub.format.history import (
    EventRaisedEvent,
    EventSentEvent,
    ExecutionResumedEvent,
    ExecutionStartedEvent,
    ExecutionSuspendedEvent,
    ExecutionTerminatedEvent,
    FailureDetails,
    HistoryEvent,
    OrchestrationInstance,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
    ParentInstance,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceCreatedEvent,
    SubOrchestrationInstanceFailedEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
    TimerFiredEvent,
)
from taskhub.model.app import App
from worker.episode import Episode, run_episode
from worker.replay import Replay, ReplayResult, execute

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
INSTANCE = "inst1"
EXECUTION = "e1"


def at(seconds: float = 0, **delta: float) -> datetime:
    """``T0`` plus an offset."""
    return T0 + timedelta(seconds=seconds, **delta)


def js(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def started(
    name: str,
    input: Any = None,
    *,
    instance_id: str = INSTANCE,
    execution_id: str = EXECUTION,
    parent: ParentInstance | None = None,
    tags: dict[str, str] | None = None,
    ts: datetime = T0,
) -> ExecutionStartedEvent:
    return ExecutionStartedEvent(
        orchestration_instance=OrchestrationInstance(instance_id, execution_id),
        parent_instance=parent,
        name=name,
        version="",
        input=js(input),
        tags=tags,
        timestamp=ts,
    )


def orchestrator_started(ts: datetime = T0) -> OrchestratorStartedEvent:
    return OrchestratorStartedEvent(timestamp=ts)


def orchestrator_completed(ts: datetime = T0) -> OrchestratorCompletedEvent:
    return OrchestratorCompletedEvent(timestamp=ts)


def task_scheduled(event_id: int, name: str, input: Any = None) -> TaskScheduledEvent:
    return TaskScheduledEvent(event_id=event_id, name=name, version="", input=js(input))


def task_completed(scheduled_id: int, result: Any = None) -> TaskCompletedEvent:
    return TaskCompletedEvent(task_scheduled_id=scheduled_id, result=js(result))


def failure(
    message: str = "boom", error_type: str = "ValueError", *, non_retriable: bool = False
) -> FailureDetails:
    return FailureDetails(error_type=error_type, message=message, is_non_retriable=non_retriable)


def task_failed(
    scheduled_id: int, message: str = "boom", error_type: str = "ValueError", *, non_retriable: bool = False
) -> TaskFailedEvent:
    return TaskFailedEvent(
        task_scheduled_id=scheduled_id,
        reason=message,
        failure_details=failure(message, error_type, non_retriable=non_retriable),
    )


def timer_created(event_id: int, fire_at: datetime) -> TimerCreatedEvent:
    return TimerCreatedEvent(event_id=event_id, fire_at=fire_at)


def timer_fired(timer_id: int, fire_at: datetime) -> TimerFiredEvent:
    return TimerFiredEvent(timer_id=timer_id, fire_at=fire_at)


def event_raised(name: str, data: Any = None) -> EventRaisedEvent:
    return EventRaisedEvent(name=name, input=js(data))


def event_sent(event_id: int, instance_id: str, name: str, data: Any = None) -> EventSentEvent:
    return EventSentEvent(event_id=event_id, instance_id=instance_id, name=name, input=js(data))


def sub_created(
    event_id: int, name: str, instance_id: str, input: Any = None
) -> SubOrchestrationInstanceCreatedEvent:
    return SubOrchestrationInstanceCreatedEvent(
        event_id=event_id, name=name, version="", instance_id=instance_id, input=js(input)
    )


def sub_completed(scheduled_id: int, result: Any = None) -> SubOrchestrationInstanceCompletedEvent:
    return SubOrchestrationInstanceCompletedEvent(task_scheduled_id=scheduled_id, result=js(result))


def sub_failed(
    scheduled_id: int, message: str = "boom", error_type: str = "ValueError"
) -> SubOrchestrationInstanceFailedEvent:
    return SubOrchestrationInstanceFailedEvent(
        task_scheduled_id=scheduled_id, reason=message, failure_details=failure(message, error_type)
    )


def suspended(reason: str = "maintenance") -> ExecutionSuspendedEvent:
    return ExecutionSuspendedEvent(reason=reason)


def resumed(reason: str = "done") -> ExecutionResumedEvent:
    return ExecutionResumedEvent(reason=reason)


def terminated(reason: Any = "stop") -> ExecutionTerminatedEvent:
    return ExecutionTerminatedEvent(input=js(reason))


def replay(app: App, past: Sequence[HistoryEvent], new: Sequence[HistoryEvent] = ()) -> ReplayResult:
    """``execute`` for the default instance id."""
    return execute(app, past, new, instance_id=INSTANCE)


def guids() -> Callable[[], str]:
    """A deterministic ``new_guid``: 32 hex digits counting up."""
    counter = itertools.count(1)
    return lambda: f"{next(counter):032x}"


class Driver:
    """Runs episodes of one instance back to back, keeping its history like a checkpoint would.

    Every episode runs twice: carrying on from the previous episode (an extended session,
    ``worker.replay.Replay``) and replayed from the whole history; the two must produce the same
    episode, so every test written with a driver also checks that carrying on changes nothing.
    ``sessions=False`` replays only (for orchestrators whose code counts its own runs).
    """

    def __init__(self, app: App, instance_id: str = INSTANCE, *, sessions: bool = True) -> None:
        self.app = app
        self.instance_id = instance_id
        self.history: list[HistoryEvent] = []
        self.new_guid = _Guids()
        self.sessions = sessions
        self.session: Replay | None = None
        self.resumed = 0
        self.episodes: list[Episode] = []

    def run(self, *incoming: HistoryEvent, now: datetime = T0) -> Episode:
        def episode_of(session: Replay | None, new_guid: Callable[[], str]) -> Episode:
            return run_episode(
                self.app,
                instance_id=self.instance_id,
                past_events=self.history,
                incoming_events=incoming,
                now=now,
                new_guid=new_guid,
                session=session,
            )

        if self.sessions and self.session is not None:
            replay_guid = _Guids(self.new_guid.count)
            episode = episode_of(self.session, self.new_guid)
            replayed = episode_of(None, replay_guid)
            self.resumed += 1
            assert _comparable(episode) == _comparable(replayed), "carrying on differs from a replay"
        else:
            episode = episode_of(None, self.new_guid)
        self.session = episode.replay
        self.history = (
            list(episode.history) if episode.continued_as_new else [*self.history, *episode.history]
        )
        self.episodes.append(episode)
        return episode

    def start(self, name: str, input: Any = None, *, now: datetime = T0, **kwargs: Any) -> Episode:
        return self.run(started(name, input, instance_id=self.instance_id, ts=now, **kwargs), now=now)



def _comparable(episode: Episode) -> Episode:
    return dataclasses.replace(episode, replay=None)


class _Guids:
    """``guids()`` that can be copied at a point: two runs of one episode get the same ids."""

    def __init__(self, count: int = 0) -> None:
        self.count = count

    def __call__(self) -> str:
        self.count += 1
        return f"{self.count:032x}"
