"""What an orchestration's decisions become (storage-format.md 3.9, 4.3): the history event recording
each action (``decision_event``), the messages to send (``messages_of``, as :class:`Outbound`, with a
sub-orchestration's notice to its parent), and the ``ExecutionStarted`` of a continue-as-new's next
execution. Pure; used by ``worker.engine.episode`` and the entity pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from taskhub.format.entities import delayed_event_time, is_entity_instance
from taskhub.format.history import (
    EventRaisedEvent,
    EventSentEvent,
    ExecutionStartedEvent,
    FailureDetails,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    ParentInstance,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceCreatedEvent,
    SubOrchestrationInstanceFailedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
    TimerFiredEvent,
)
from worker.engine.decisions import Decisions
from worker.engine.state import Action, Completion, CreateSubOrchestration, CreateTimer, ScheduleTask

__all__ = [
    "Outbound",
    "FIRE_AND_FORGET_TAG",
    "decision_event",
    "messages_of",
    "parent_notice",
    "next_execution",
    "execution_id_of",
]

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


def decision_event(action: Action, now: datetime) -> HistoryEvent:
    """The history event recording an action (storage-format.md 4.3)."""
    if isinstance(action, ScheduleTask):
        return TaskScheduledEvent(
            event_id=action.id, name=action.name, version="", input=action.input, timestamp=now, tags=action.tags
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
            tags=action.tags,
        )
    return EventSentEvent(
        event_id=action.id,
        instance_id=action.instance_id,
        name=action.name,
        input=action.input,
        timestamp=now,
    )


def messages_of(
    result: Decisions, instance_id: str, now: datetime, new_guid: Callable[[], str]
) -> list[Outbound]:
    """The messages of one execution's episode: one per action, then the parent's notification."""
    started = result.started
    me = OrchestrationInstance(instance_id, execution_id_of(started))
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
    notice = parent_notice(result, now)
    if notice is not None:
        messages.append(notice)
    return messages


def parent_notice(result: Decisions, now: datetime) -> Outbound | None:
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


def next_execution(
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


def execution_id_of(started: ExecutionStartedEvent) -> str:
    instance = started.orchestration_instance
    return (instance.execution_id if instance else None) or ""
