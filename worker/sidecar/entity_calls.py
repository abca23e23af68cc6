"""Entity calls and signals of an SDK orchestration, as this hub's entity messages and back (pure).

An SDK's ``sendEntityMessage`` action (``entityOperationCalled`` / ``entityOperationSignaled``) becomes the
``op`` (or ``op@<time>``) EventSent an in-process orchestration sends: a RequestMessage with the SDK's
request id, labelled by the orchestration's message sorter, which is rebuilt from the history's earlier
sends the way the in-process orchestration built it. Back to the SDK, such an EventSent is shown as the
``entityOperationCalled`` / ``Signaled`` it came from, and the answer (an EventRaised named by the request
id) as ``entityOperationCompleted`` / ``Failed``. A lock request (``entityLockRequested``) is the lock
RequestMessage of this hub's lock protocol, sent to the first of the sorted entities; its grant is shown
as ``entityLockGranted``, and an ``entityUnlockSent`` is the ``release`` EventSent to that entity.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from taskhub.errors import FormatError
from taskhub.format.entities import (
    ReleaseMessage,
    RequestMessage,
    ResponseMessage,
    delayed_event_name,
    is_entity_instance,
    stamp_datetime,
    stamp_of,
)
from taskhub.format.entity_state import SorterState
from taskhub.format.history import EventRaisedEvent, EventSentEvent, HistoryEvent, OrchestratorStartedEvent
from taskhub.model.entities import EntityId
from worker.engine.state import SendEvent
from worker.entities.scheduler import capped_delivery
from worker.entities.sorter import DEFAULT_REORDER_WINDOW, label
from worker.sidecar.proto import moment, pb, string_value, text, timestamp

__all__ = ["sorter_of", "entity_send", "entity_view"]


def _request_of(event: HistoryEvent) -> RequestMessage | None:
    """The RequestMessage an ``op`` EventSent to an entity carries, else None."""
    if not isinstance(event, EventSentEvent) or not is_entity_instance(event.instance_id):
        return None
    if not (event.name == "op" or (event.name or "").startswith("op@")):
        return None
    try:
        return RequestMessage.from_json(event.input)
    except FormatError:
        return None


def sorter_of(events: Sequence[HistoryEvent]) -> SorterState:
    """The orchestration's sorter after the labelled sends of ``events`` (as its replay rebuilds it)."""
    sorter = SorterState()
    now = None
    for e in events:
        if isinstance(e, OrchestratorStartedEvent):
            now = stamp_of(e.timestamp)
        request = _request_of(e)
        if request is not None and now is not None and isinstance(e, EventSentEvent) and e.name == "op":
            label(sorter, RequestMessage(id=request.id), e.instance_id or "", now, DEFAULT_REORDER_WINDOW)
    return sorter


def entity_send(
    action: pb.OrchestratorAction, instance_id: str, execution_id: str, sorter: SorterState, when: datetime
) -> SendEvent:
    """The EventSent action of an SDK call or signal; ValueError for a lock or an unknown message."""
    m = action.sendEntityMessage
    kind = m.WhichOneof("EntityMessageType")
    now = stamp_of(when)
    if kind == "entityOperationCalled":
        c = m.entityOperationCalled
        target = text(c.targetInstanceId, c.HasField("targetInstanceId")) or ""
        msg = RequestMessage(
            id=c.requestId,
            op=c.operation,
            input=text(c.input, c.HasField("input")),
            parent=instance_id,
            parent_execution=execution_id,
        )
    elif kind == "entityOperationSignaled":
        s = m.entityOperationSignaled
        target = text(s.targetInstanceId, s.HasField("targetInstanceId")) or ""
        msg = RequestMessage(
            id=s.requestId,
            op=s.operation,
            signal=True,
            input=text(s.input, s.HasField("input")),
            parent=instance_id,
            parent_execution=execution_id,
        )
        if s.HasField("scheduledTime"):
            msg.due = stamp_of(moment(s.scheduledTime))
    elif kind == "entityLockRequested":
        lock = m.entityLockRequested
        ids = sorted({str(e): e for e in (EntityId.parse(i) for i in lock.lockSet)}.items())
        if not ids:
            raise ValueError("the SDK sent a lock request without entities")
        target = ids[0][0]
        msg = RequestMessage(
            id=lock.criticalSectionId,
            parent=instance_id,
            parent_execution=execution_id,
            lockset=[(e.name, e.key) for _, e in ids],
        )
    elif kind == "entityUnlockSent":
        unlock = m.entityUnlockSent
        target = str(EntityId.parse(text(unlock.targetInstanceId, unlock.HasField("targetInstanceId")) or ""))
        release = ReleaseMessage(instance_id, unlock.criticalSectionId).to_json()
        return SendEvent(action.id, target, "release", release)
    else:
        raise ValueError(f"the SDK sent an entity message {kind!r}, which this sidecar does not know")
    if not is_entity_instance(target):
        raise ValueError(
            f"the SDK sent an entity message to {target!r}, which is not an entity id (@name@key)"
        )
    if msg.due is None:
        label(sorter, msg, target, now, DEFAULT_REORDER_WINDOW)
        name = "op"
    else:
        name = delayed_event_name(capped_delivery(msg.due, now))
    return SendEvent(action.id, target, name, msg.to_json())


def entity_view(events: Sequence[HistoryEvent]) -> dict[int, pb.HistoryEvent]:
    """For the positions of ``events`` that are entity sends or their answers: what the SDK sees there."""
    shown: dict[int, pb.HistoryEvent] = {}
    calls: set[str] = set()
    locks: set[str] = set()
    for i, e in enumerate(events):
        if not isinstance(e, EventSentEvent | EventRaisedEvent):
            continue  # most of a history: nothing of entities (and its timestamp not converted for nothing)
        request = _request_of(e)
        ts = timestamp(e.timestamp)
        if request is not None and request.lockset is not None:
            locks.add(request.id)
            requested = pb.EntityLockRequestedEvent(
                criticalSectionId=request.id,
                lockSet=[f"@{name}@{key}" for name, key in request.lockset],
                position=request.pos,
                parentInstanceId=string_value(request.parent),
            )
            shown[i] = pb.HistoryEvent(eventId=e.event_id, timestamp=ts, entityLockRequested=requested)
        elif isinstance(e, EventSentEvent) and e.name == "release" and is_entity_instance(e.instance_id):
            try:
                release = ReleaseMessage.from_json(e.input)
            except FormatError:
                continue
            unlock = pb.EntityUnlockSentEvent(
                criticalSectionId=release.id,
                parentInstanceId=string_value(release.parent),
                targetInstanceId=string_value(e.instance_id),
            )
            shown[i] = pb.HistoryEvent(eventId=e.event_id, timestamp=ts, entityUnlockSent=unlock)
        elif isinstance(e, EventRaisedEvent) and e.name in locks:
            granted = pb.EntityLockGrantedEvent(criticalSectionId=e.name or "")
            shown[i] = pb.HistoryEvent(eventId=e.event_id, timestamp=ts, entityLockGranted=granted)
        elif request is not None:
            common = {
                "requestId": request.id,
                "operation": request.op or "",
                "input": string_value(request.input),
                "targetInstanceId": string_value(e.instance_id if isinstance(e, EventSentEvent) else None),
            }
            if request.signal:
                signaled = pb.EntityOperationSignaledEvent(
                    **common,
                    scheduledTime=timestamp(stamp_datetime(request.due)) if request.due is not None else None,
                )
                shown[i] = pb.HistoryEvent(
                    eventId=e.event_id, timestamp=timestamp(e.timestamp), entityOperationSignaled=signaled
                )
            else:
                calls.add(request.id)
                called = pb.EntityOperationCalledEvent(
                    **common,
                    parentInstanceId=string_value(request.parent),
                    parentExecutionId=string_value(request.parent_execution),
                )
                shown[i] = pb.HistoryEvent(
                    eventId=e.event_id, timestamp=timestamp(e.timestamp), entityOperationCalled=called
                )
        elif isinstance(e, EventRaisedEvent) and e.name in calls:
            answer = _answer(e)
            if answer is not None:
                shown[i] = answer
    return shown


def _answer(e: EventRaisedEvent) -> pb.HistoryEvent | None:
    try:
        response = ResponseMessage.from_json(e.input)
    except FormatError:
        return None
    ts = timestamp(e.timestamp)
    if response.is_error:
        fd = response.failure_details or {}
        details = pb.TaskFailureDetails(
            errorType=str(fd.get("ErrorType") or response.exception_type or "Error"),
            errorMessage=str(fd.get("ErrorMessage") or response.result or ""),
            stackTrace=string_value(fd.get("StackTrace") if isinstance(fd.get("StackTrace"), str) else None),
        )
        failed = pb.EntityOperationFailedEvent(requestId=e.name or "", failureDetails=details)
        return pb.HistoryEvent(eventId=e.event_id, timestamp=ts, entityOperationFailed=failed)
    done = pb.EntityOperationCompletedEvent(requestId=e.name or "", output=string_value(response.result))
    return pb.HistoryEvent(eventId=e.event_id, timestamp=ts, entityOperationCompleted=done)
