"""An entity's scheduler, purely: incoming messages -> the SchedulerState -> the next batch of operations,
and the lock protocol (entities.md 2.5, 2.7, 3; checklist 7.5).

* ``accept`` files each incoming event: requests (``op``) go through the sorter, or straight in when
  scheduled (an early one, more than 100 ms before its ``due``, is re-sent to the entity itself); delivered
  requests from the lock holder go to the front of the queue, the others to the back; ``release`` clears the
  lock of its holder; anything else is ``continue``. Ids accepted recently are dropped as redeliveries.
* ``take_batch`` dequeues while the head may run (``MayDequeue``: unlocked, or the head is the holder's),
  at most ``max_operations``; a lock request ends the batch. When the limit cut the batch short the entity
  suspends itself and sends itself ``continue``.
* ``grant_lock`` takes the lock for the requester and forwards the request to the next entity of the lock
  set (re-labelled by this entity's sorter), or answers the requester with the grant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from taskhub.format.entities import (
    LOCK_GRANTED,
    TICKS_PER_SECOND,
    ReleaseMessage,
    RequestMessage,
    ResponseMessage,
    Stamp,
    delayed_event_name,
    is_request_event,
)
from taskhub.format.entity_state import RecentGroup, SchedulerState
from worker.entities import sorter

__all__ = [
    "OutMessage",
    "Accepted",
    "accept",
    "take_batch",
    "grant_lock",
    "response_to",
    "request_to",
    "capped_delivery",
    "EARLY_TOLERANCE",
    "MAXIMUM_DELAY",
    "CAPPED_DELAY",
]

EARLY_TOLERANCE = TICKS_PER_SECOND // 10
"""A scheduled message more than 100 ms early is sent again (entities.md 2.5)."""
MAXIMUM_DELAY = 6 * 86400 * TICKS_PER_SECOND
"""Delays longer than 6 days are carried in steps (classic ``MaximumDelayTime``) ..."""
CAPPED_DELAY = 3 * 86400 * TICKS_PER_SECOND
"""... of 3 days (``GetAdjustedDeliveryTime``)."""


@dataclass(frozen=True)
class OutMessage:
    """An EventRaised to send: to ``target`` (execution ``target_execution``), named ``name``."""

    target: str
    target_execution: str | None
    name: str
    input: str | None
    visible_at: int | None = None
    """Ticks (UTC) before which the queue keeps it hidden; ``None`` = at once."""


@dataclass
class Accepted:
    """What ``accept`` did besides changing the state."""

    outbox: list[OutMessage] = field(default_factory=list)
    discarded: list[tuple[str, str]] = field(default_factory=list)
    """(event name, reason)."""


def capped_delivery(due: int, now: int) -> Stamp:
    """The time a delayed message is named for: ``due``, or ``now + 3 days`` when ``due`` is > 6 days away."""
    return Stamp(now + CAPPED_DELAY if due - now > MAXIMUM_DELAY else due)


def request_to(target: str, msg: RequestMessage, now: int) -> OutMessage:
    """The event carrying ``msg``: ``op``, or ``op@<time>`` with the queue delay for a scheduled one."""
    if msg.due is None:
        return OutMessage(target, None, "op", msg.to_json())
    at = capped_delivery(msg.due, now)
    return OutMessage(target, None, delayed_event_name(at), msg.to_json(), visible_at=int(at))


def response_to(msg: RequestMessage, response: ResponseMessage) -> OutMessage:
    """The answer to ``msg``: an EventRaised named by the request id, to the sender's execution."""
    return OutMessage(msg.parent or "", msg.parent_execution, msg.id, response.to_json())


def _recent_ids(state: SchedulerState) -> set[str]:
    return {i for g in state.recent for i in g.ids}


def accept(
    state: SchedulerState,
    events: list[tuple[str, str | None]],
    *,
    self_id: str,
    now: Stamp,
    window: int,
) -> Accepted:
    """File incoming ``(event name, input)`` pairs into ``state`` (see the module docstring)."""
    result = Accepted()
    seen = _recent_ids(state)
    group = RecentGroup(now, [])
    for name, text in events:
        if is_request_event(name):
            msg = RequestMessage.from_json(text)
            if msg.id in seen and msg.pos == 0:
                result.discarded.append((name, f"request {msg.id} was already accepted"))
                continue
            if msg.due is not None and msg.due - now > EARLY_TOLERANCE:
                result.outbox.append(request_to(self_id, msg, now))
                continue
            delivered = [msg] if msg.due is not None else sorter.receive(state.sorter, msg, window)
            for m in delivered:
                if m.parent is not None and m.parent == state.locked_by:
                    state.queue.insert(0, m)
                else:
                    state.queue.append(m)
            if msg.pos == 0:
                seen.add(msg.id)
                group.ids.append(msg.id)
        elif name == "release":
            release = ReleaseMessage.from_json(text)
            if state.locked_by is not None and state.locked_by == release.parent:
                state.locked_by = None
        else:
            state.suspended = False
    if group.ids:
        state.recent.append(group)
    return result


def _may_dequeue(state: SchedulerState) -> bool:
    return bool(state.queue) and (state.locked_by is None or state.locked_by == state.queue[0].parent)


def take_batch(
    state: SchedulerState, *, max_operations: int, self_id: str
) -> tuple[list[RequestMessage], RequestMessage | None, list[OutMessage]]:
    """``(operations, lock request or None, outbox)``: the next batch, taken off ``state.queue``."""
    ops: list[RequestMessage] = []
    if state.suspended:
        return ops, None, []
    while _may_dequeue(state):
        if len(ops) >= max_operations:
            state.suspended = True
            return ops, None, [OutMessage(self_id, None, "continue", None)]
        head = state.queue.pop(0)
        if head.is_lock_request:
            return ops, head, []
        ops.append(head)
    return ops, None, []


def grant_lock(state: SchedulerState, request: RequestMessage, *, now: Stamp, window: int) -> OutMessage:
    """``ProcessLockRequest``: lock for the requester, then forward or grant (entities.md 3.3)."""
    assert request.lockset is not None
    state.locked_by = request.parent
    forwarded = RequestMessage(
        id=request.id,
        op=request.op,
        signal=request.signal,
        input=request.input,
        parent=request.parent,
        parent_execution=request.parent_execution,
        lockset=list(request.lockset),
        pos=request.pos + 1,
    )
    if forwarded.pos < len(request.lockset):
        name, key = request.lockset[forwarded.pos]
        target = f"@{name}@{key}"
        sorter.label(state.sorter, forwarded, target, now, window)
        return OutMessage(target, None, "op", forwarded.to_json())
    return response_to(request, ResponseMessage(result=LOCK_GRANTED))
