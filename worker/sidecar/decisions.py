"""A connected SDK's answer as this engine's ``Decisions``, purely: what crosses the executor seam for an
orchestrator that runs in another process (``worker.sidecar.remote``).

The SDK replays the history itself and answers with the actions it has not taken before, numbered by its
own sequence; those ids become the decision events' ``EventId``s, which is how the SDK finds its tasks
again in the next episode. ``decisions_of`` turns one ``OrchestratorResponse`` into ``Decisions``; the
engine (``worker.engine.episode.EpisodeBuilder``) builds the rows and messages from them exactly as for
an in-process orchestrator, and asks again for the new execution after a continue-as-new.

An SDK may reuse an action id (durabletask-python retries an activity or sub-orchestration under the
id of its first attempt), which the DTFx format does not allow (one EventId per decision, and a second
completion of an id is dropped as a duplicate). Such an action gets the next free id from
``REUSED_ID_BASE`` up, and its decision
event keeps the SDK's id in the tag ``SDK_ID_TAG``; ``to_sdk`` shows the SDK its own ids again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from taskhub.format.entity_state import SorterState
from taskhub.format.history import (
    EventRaisedEvent,
    EventSentEvent,
    ExecutionResumedEvent,
    ExecutionStartedEvent,
    ExecutionSuspendedEvent,
    HistoryEvent,
    OrchestrationStatus,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceCreatedEvent,
    SubOrchestrationInstanceFailedEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
)
from taskhub.format.types import FailureDetails
from worker.engine.decisions import Decisions
from worker.engine.state import (
    Action,
    Completion,
    CreateSubOrchestration,
    CreateTimer,
    ScheduleTask,
    SendEvent,
)
from worker.sidecar.entity_calls import entity_send, entity_view, sorter_of
from worker.sidecar.history import from_proto, to_proto
from worker.sidecar.proto import failure_from_proto, moment, pb, status_from_proto, text

__all__ = ["decisions_of", "to_sdk", "SDK_ID_TAG", "REUSED_ID_BASE"]

REUSED_ID_BASE = 1 << 20
"""A reused action id gets the next free EventId from here up, far above the SDK's own sequence (which
counts up from 1), so that the SDK's later actions never collide with it."""
SDK_ID_TAG = "taskhub.sdkTaskId"
"""Tag of a TaskScheduled / SubOrchestrationInstanceCreated row whose EventId is not the SDK's id."""
_DECISIONS = (TaskScheduledEvent, TimerCreatedEvent, SubOrchestrationInstanceCreatedEvent, EventSentEvent)
_COMPLETIONS = (
    TaskCompletedEvent,
    TaskFailedEvent,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceFailedEvent,
)


def to_sdk(
    events: Sequence[HistoryEvent], proto: Callable[[HistoryEvent], pb.HistoryEvent] = to_proto
) -> list[pb.HistoryEvent]:
    """The protocol's history of ``events`` with the SDK's own action ids (see the module docstring).
    ``proto`` translates one event (``to_proto``, or a memo of it: the message it returns is never
    changed here)."""
    ids: dict[int, int] = {}
    for e in events:
        if isinstance(e, TaskScheduledEvent | SubOrchestrationInstanceCreatedEvent) and SDK_ID_TAG in (
            e.tags or {}
        ):
            ids[e.event_id] = int((e.tags or {})[SDK_ID_TAG])
    shown: list[pb.HistoryEvent] = []
    entity_messages = entity_view(events)
    for i, e in enumerate(events):
        if i in entity_messages:
            shown.append(entity_messages[i])
            continue
        message = proto(e)
        if e.event_id in ids and isinstance(e, _DECISIONS):
            message = _copy(message)
            message.eventId = ids[e.event_id]
            kind = message.WhichOneof("eventType") or ""
            del getattr(message, kind).tags[SDK_ID_TAG]
        elif isinstance(e, _COMPLETIONS) and e.task_scheduled_id in ids:
            message = _copy(message)
            getattr(message, message.WhichOneof("eventType") or "").taskScheduledId = ids[e.task_scheduled_id]
        shown.append(message)
    return shown


def _copy(message: pb.HistoryEvent) -> pb.HistoryEvent:
    out = pb.HistoryEvent()
    out.CopyFrom(message)
    return out


def _action(
    a: pb.OrchestratorAction, parent_execution: str, instance_id: str, sorter: SorterState, now: datetime
) -> Action | None:
    kind = a.WhichOneof("orchestratorActionType")
    if kind == "sendEntityMessage":
        return entity_send(a, instance_id, parent_execution, sorter, now)
    if kind == "scheduleTask":
        t = a.scheduleTask
        return ScheduleTask(id=a.id, name=t.name, input=text(t.input, t.HasField("input")))
    if kind == "createTimer":
        return CreateTimer(id=a.id, fire_at=moment(a.createTimer.fireAt))
    if kind == "createSubOrchestration":
        s = a.createSubOrchestration
        return CreateSubOrchestration(
            id=a.id,
            name=s.name,
            instance_id=s.instanceId or f"{parent_execution}:{a.id}",
            input=text(s.input, s.HasField("input")),
            version=text(s.version, s.HasField("version")) or "",
        )
    if kind == "sendEvent":
        e = a.sendEvent
        return SendEvent(
            id=a.id, instance_id=e.instance.instanceId, name=e.name, input=text(e.data, e.HasField("data"))
        )
    if kind == "completeOrchestration":
        return None
    raise ValueError(
        f"orchestration {instance_id!r}: the SDK sent a {kind} action, which this sidecar does not carry out "
        "(supported: scheduleTask, createTimer, createSubOrchestration, sendEvent, sendEntityMessage, completeOrchestration)"
    )


def _is_suspended(events: Sequence[HistoryEvent]) -> bool:
    state = False
    for e in events:
        if isinstance(e, ExecutionStartedEvent):
            state = False
        elif isinstance(e, ExecutionSuspendedEvent):
            state = True
        elif isinstance(e, ExecutionResumedEvent):
            state = False
    return state


def decisions_of(
    instance_id: str,
    past: Sequence[HistoryEvent],
    new: Sequence[HistoryEvent],
    response: pb.OrchestratorResponse,
) -> Decisions:
    """The ``Decisions`` of one SDK response to the execution ``(past, new)``. An action that reuses an
    id gets a free one, tagged with the SDK's (see the module docstring). A bad action fails the
    execution with a message saying which (as a faulty in-process orchestrator would)."""
    started = next(e for e in [*past, *new] if isinstance(e, ExecutionStartedEvent))
    execution = (
        started.orchestration_instance.execution_id if started.orchestration_instance else None
    ) or ""
    actions: list[Action] = []
    completion: Completion | None = None
    used = {e.event_id for e in [*past, *new] if isinstance(e, _DECISIONS)}
    sorter = sorter_of([*past, *new])
    now = new[0].timestamp if new else started.timestamp
    ceiling = max([*used, *(a.id for a in response.actions), REUSED_ID_BASE - 1])
    try:
        for a in response.actions:
            action = _action(a, execution, instance_id, sorter, now)
            if action is not None and action.id in used:
                ceiling += 1
                action = _reused(action, ceiling)
            if action is not None:
                used.add(action.id)
                actions.append(action)
            elif completion is None:
                completion = _completion(a)
    except ValueError as err:
        actions = []
        completion = Completion(
            action_id=max((a.id for a in response.actions), default=0) + 1,
            status=OrchestrationStatus.FAILED,
            failure_details=FailureDetails(
                error_type="taskhub.SidecarError", message=str(err), is_non_retriable=True
            ),
        )
    return Decisions(
        actions=actions,
        completion=completion,
        custom_status=text(response.customStatus, response.HasField("customStatus")),
        started=started,
        is_suspended=_is_suspended([*past, *new]),
    )


def _reused(action: Action, free_id: int) -> Action:
    """``action`` under ``free_id``; its decision event keeps the SDK's id as a tag."""
    if isinstance(action, ScheduleTask | CreateSubOrchestration):
        return replace(action, id=free_id, tags={**(action.tags or {}), SDK_ID_TAG: str(action.id)})
    return replace(action, id=free_id)


def _completion(a: pb.OrchestratorAction) -> Completion:
    c = a.completeOrchestration
    status = status_from_proto(c.orchestrationStatus)
    details = failure_from_proto(c.failureDetails) if c.HasField("failureDetails") else None
    result = text(c.result, c.HasField("result"))
    carried = [replace(from_proto(e), is_played=True) for e in c.carryoverEvents]
    continued = status is OrchestrationStatus.CONTINUED_AS_NEW
    return Completion(
        action_id=a.id,
        status=status,
        result=None if continued else result,
        failure_details=details,
        new_input=result if continued else None,
        carried_events=tuple(e for e in carried if isinstance(e, EventRaisedEvent)),
    )
