"""One orchestration episode, purely: (history so far, messages of a batch) -> rows to append + messages.

``run_episode`` is the bridge the I/O layer calls. It appends ``OrchestratorStarted(now)`` and the
batch's events to the execution, replays it (``worker.replay.execute``) and turns the result into

- ``Episode.history``: the events to append, in order: ``OrchestratorStarted``, the batch's events,
  one decision event per new action (EventId = action id), ``ExecutionCompleted`` when the execution
  ended (EventId = the next action id), ``OrchestratorCompleted`` (storage-format.md 9.1);
- ``Episode.outbound``: the messages to send (storage-format.md 3.9), as :class:`Outbound`.

ContinueAsNew is handled in the same call, as DTFx's dispatcher does for this backend (4.6): the old
execution's last episode is never written; a new execution starts with
``[OrchestratorStarted, ExecutionStarted(new execution id), carried EventRaised...]`` and runs at once,
again while it continues as new (at most ``MAX_CONTINUE_AS_NEW_PER_EPISODE`` times). ``history`` is
then the new execution's whole history, to be written from RowKey 0. Of the old execution's messages
only those to other instances (sub-orchestration starts, events sent) go out; activities and timers
are dropped, as in DTFx.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from taskhub.format.entities import delayed_event_time, is_entity_instance
from taskhub.format.history import (
    EventRaisedEvent,
    EventSentEvent,
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    FailureDetails,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
    ParentInstance,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceCreatedEvent,
    SubOrchestrationInstanceFailedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
    TimerFiredEvent,
)
from taskhub.model.app import App
from worker.replay import Replay, ReplayResult, failure_details_of
from worker.state import Action, Completion, CreateSubOrchestration, CreateTimer, ScheduleTask

__all__ = ["run_episode", "Episode", "Outbound", "MAX_CONTINUE_AS_NEW_PER_EPISODE", "FIRE_AND_FORGET_TAG"]

MAX_CONTINUE_AS_NEW_PER_EPISODE = 1000
"""More immediate continue-as-new rounds than this in one episode fail the orchestration (a loop)."""
FIRE_AND_FORGET_TAG = "FireAndForget"
"""A sub-orchestration whose tags hold this key does not report its completion to its parent (DTFx)."""


@dataclass(frozen=True)
class Outbound:
    """A message to send. ``kind`` says where it goes:

    - ``"activity"``: the work-item queue; ``target`` is this orchestration (the activity's sender);
    - ``"orchestrator"``: the control queue of ``target.instance_id``;
    - ``"timer"``: this instance's own control queue, invisible until ``visible_at``.

    ``tags`` become the message's ``OrchestrationExecutionContext`` (the orchestration's tags).
    """

    kind: Literal["activity", "orchestrator", "timer"]
    target: OrchestrationInstance
    event: HistoryEvent
    visible_at: datetime | None = None
    tags: dict[str, str] | None = None


@dataclass
class Episode:
    """What one episode produced; see the module docstring."""

    instance_id: str
    execution_id: str
    """The execution ``history`` belongs to (the new one after continue-as-new)."""
    started: ExecutionStartedEvent
    """That execution's ``ExecutionStarted`` (name, input, tags, parent, generation for the Instances row)."""
    history: list[HistoryEvent]
    outbound: list[Outbound]
    runtime_status: OrchestrationStatus
    custom_status: str | None = None
    """JSON text, or ``None`` when the code set no custom status."""
    output: str | None = None
    failure_details: FailureDetails | None = None
    continued_as_new: bool = False
    new_execution_id: str | None = None
    """Set when the episode continued as new: ``history`` then starts at RowKey 0 of this execution."""
    discarded: list[tuple[HistoryEvent, str]] = field(default_factory=list)
    """Incoming events that were not applied, each with the reason."""
    replay: Replay | None = None
    """The orchestrator where this episode left it, when it can carry on in the next episode (pass it as
    ``session`` with the history this episode's checkpoint wrote); ``None`` when the execution ended."""


def run_episode(
    app: App,
    *,
    instance_id: str,
    past_events: Sequence[HistoryEvent],
    incoming_events: Sequence[HistoryEvent],
    now: datetime,
    new_guid: Callable[[], str],
    session: Replay | None = None,
) -> Episode:
    """Run one episode of ``instance_id``; ``now`` (aware) stamps every new event; ``new_guid()`` gives
    execution ids (32 hex digits) for started sub-orchestrations and continue-as-new. With ``session``
    (the ``replay`` of the episode that wrote the end of ``past_events``) the orchestrator carries on
    from there instead of being replayed from the start."""
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware (UTC), got {now.isoformat()}")
    discarded: list[tuple[HistoryEvent, str]] = []
    incoming = _admit(past_events, incoming_events, discarded)
    past: list[HistoryEvent] = list(past_events)
    new: list[HistoryEvent] = [OrchestratorStartedEvent(timestamp=now), *incoming]
    outbound: list[Outbound] = []
    custom_status: str | None = None
    continues = 0
    while True:
        if session is not None:
            replay, result = session, session.resume(past, new)
            session = None
        else:
            replay, result = Replay.start(app, past, new, instance_id=instance_id)
        if result.custom_status is not None:
            custom_status = result.custom_status
        completion = result.completion
        if completion is None or completion.status is not OrchestrationStatus.CONTINUED_AS_NEW:
            break
        if continues == MAX_CONTINUE_AS_NEW_PER_EPISODE:
            result = _too_many_continues(result, completion)
            break
        continues += 1
        old = _messages(result, instance_id, now, new_guid)
        outbound.extend(message for message in old if message.kind == "orchestrator")
        started = _next_execution(result.started, completion, instance_id, new_guid(), now)
        carried = [replace(event, is_played=True) for event in completion.carried_events]
        past, new = [], [OrchestratorStartedEvent(timestamp=now), started, *carried]

    outbound.extend(_messages(result, instance_id, now, new_guid))
    completion = result.completion
    history = [*new, *(_decision_event(action, now) for action in result.actions)]
    if completion is not None:
        history.append(
            ExecutionCompletedEvent(
                event_id=completion.action_id,
                orchestration_status=completion.status,
                result=completion.result,
                failure_details=completion.failure_details,
                timestamp=now,
            )
        )
    history.append(OrchestratorCompletedEvent(timestamp=now))
    execution_id = _execution_id(result.started)
    if completion is not None:
        status = completion.status
    else:
        status = OrchestrationStatus.SUSPENDED if result.is_suspended else OrchestrationStatus.RUNNING
    return Episode(
        instance_id=instance_id,
        execution_id=execution_id,
        started=result.started,
        history=history,
        outbound=outbound,
        runtime_status=status,
        custom_status=custom_status,
        output=completion.result if completion else None,
        failure_details=completion.failure_details if completion else None,
        continued_as_new=continues > 0,
        new_execution_id=execution_id if continues > 0 else None,
        discarded=discarded,
        replay=replay if replay.can_resume else None,
    )


def _admit(
    past: Sequence[HistoryEvent], incoming: Sequence[HistoryEvent], discarded: list[tuple[HistoryEvent, str]]
) -> list[HistoryEvent]:
    """The incoming events to apply (marked played), the ExecutionStarted first; duplicates discarded."""
    started_before = any(isinstance(event, ExecutionStartedEvent) for event in past)
    start: HistoryEvent | None = None
    rest: list[HistoryEvent] = []
    for event in incoming:
        if not isinstance(event, ExecutionStartedEvent):
            rest.append(replace(event, is_played=True))
        elif started_before or start is not None:
            discarded.append((event, "duplicate ExecutionStarted: this execution has already started"))
        else:
            start = replace(event, is_played=True)
    if not started_before and start is None:
        raise ValueError("neither the history nor the incoming events hold an ExecutionStarted event")
    return [start, *rest] if start is not None else rest


def _decision_event(action: Action, now: datetime) -> HistoryEvent:
    """The history event recording an action (storage-format.md 4.3)."""
    if isinstance(action, ScheduleTask):
        return TaskScheduledEvent(
            event_id=action.id, name=action.name, version="", input=action.input, timestamp=now
        )
    if isinstance(action, CreateTimer):
        return TimerCreatedEvent(event_id=action.id, fire_at=action.fire_at, timestamp=now)
    if isinstance(action, CreateSubOrchestration):
        return SubOrchestrationInstanceCreatedEvent(
            event_id=action.id,
            name=action.name,
            version=action.version,
            instance_id=action.instance_id,
            input=action.input,
            timestamp=now,
        )
    return EventSentEvent(
        event_id=action.id,
        instance_id=action.instance_id,
        name=action.name,
        input=action.input,
        timestamp=now,
    )


def _messages(
    result: ReplayResult, instance_id: str, now: datetime, new_guid: Callable[[], str]
) -> list[Outbound]:
    """The messages of one execution's episode: one per action, then the parent's notification."""
    started = result.started
    me = OrchestrationInstance(instance_id, _execution_id(started))
    tags = dict(started.tags) if started.tags is not None else None
    messages: list[Outbound] = []
    for action in result.actions:
        if isinstance(action, ScheduleTask):
            event: HistoryEvent = TaskScheduledEvent(
                event_id=action.id, name=action.name, version="", input=action.input, timestamp=now
            )
            messages.append(Outbound("activity", me, event, tags=tags))
        elif isinstance(action, CreateTimer):
            event = TimerFiredEvent(timer_id=action.id, fire_at=action.fire_at, timestamp=now)
            messages.append(Outbound("timer", me, event, visible_at=action.fire_at))
        elif isinstance(action, CreateSubOrchestration):
            child = OrchestrationInstance(action.instance_id, new_guid())
            parent = ParentInstance(
                name=started.name,
                orchestration_instance=me,
                task_schedule_id=action.id,
                version=started.version or "",
            )
            event = ExecutionStartedEvent(
                orchestration_instance=child,
                parent_instance=parent,
                name=action.name,
                version=action.version,
                input=action.input,
                tags=tags,
                generation=0,
                timestamp=now,
            )
            messages.append(Outbound("orchestrator", child, event, tags=tags))
        else:
            event = EventRaisedEvent(name=action.name, input=action.input, timestamp=now)
            target = OrchestrationInstance(action.instance_id, None)
            delay = delayed_event_time(action.name) if is_entity_instance(action.instance_id) else None
            messages.append(Outbound("orchestrator", target, event, visible_at=delay))
    notice = _parent_notice(result, now)
    if notice is not None:
        messages.append(notice)
    return messages


def _parent_notice(result: ReplayResult, now: datetime) -> Outbound | None:
    """A sub-orchestration's completion message to its parent (Completed; Failed or Terminated as Failed)."""
    completion, started = result.completion, result.started
    parent = started.parent_instance
    if completion is None or parent is None or parent.orchestration_instance is None:
        return None
    if FIRE_AND_FORGET_TAG in (started.tags or {}):
        return None
    event: HistoryEvent
    if completion.status is OrchestrationStatus.COMPLETED:
        event = SubOrchestrationInstanceCompletedEvent(
            task_scheduled_id=parent.task_schedule_id, result=completion.result, timestamp=now
        )
    elif completion.status is OrchestrationStatus.FAILED:
        details = completion.failure_details or FailureDetails()
        event = SubOrchestrationInstanceFailedEvent(
            task_scheduled_id=parent.task_schedule_id,
            reason=details.message,
            failure_details=details,
            timestamp=now,
        )
    elif completion.status is OrchestrationStatus.TERMINATED:
        instance = started.orchestration_instance.instance_id if started.orchestration_instance else "?"
        details = FailureDetails(
            error_type="Terminated", message=f"instance {instance!r} was terminated: {completion.result}"
        )
        event = SubOrchestrationInstanceFailedEvent(
            task_scheduled_id=parent.task_schedule_id,
            reason=completion.result,
            failure_details=details,
            timestamp=now,
        )
    else:
        return None
    return Outbound("orchestrator", parent.orchestration_instance, event)


def _next_execution(
    old: ExecutionStartedEvent, completion: Completion, instance_id: str, execution_id: str, now: datetime
) -> ExecutionStartedEvent:
    """The ExecutionStarted of the execution a continue-as-new starts (DTFx: same name, version, tags,
    parent; generation unchanged)."""
    return ExecutionStartedEvent(
        orchestration_instance=OrchestrationInstance(instance_id, execution_id),
        parent_instance=old.parent_instance,
        name=old.name,
        version=old.version,
        input=completion.new_input,
        tags=dict(old.tags) if old.tags is not None else None,
        parent_trace_context=old.parent_trace_context,
        generation=old.generation,
        is_played=True,
        timestamp=now,
    )


def _too_many_continues(result: ReplayResult, completion: Completion) -> ReplayResult:
    error = RuntimeError(
        f"orchestrator {result.started.name!r} continued as new {MAX_CONTINUE_AS_NEW_PER_EPISODE} times in one "
        "episode without waiting for anything; this looks like an endless loop"
    )
    failed = Completion(
        action_id=completion.action_id,
        status=OrchestrationStatus.FAILED,
        failure_details=failure_details_of(error),
    )
    return replace(result, actions=[], completion=failed)


def _execution_id(started: ExecutionStartedEvent) -> str:
    instance = started.orchestration_instance
    return (instance.execution_id if instance else None) or ""
