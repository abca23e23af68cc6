"""The orchestration side of entities (api.md 1, entities.md 2.4, 3): ``call_entity``, ``signal_entity``,
``lock_entities`` and the release, as ``SendEvent`` actions over ``ReplayState``; pure.

A call or a lock request is an ``op`` EventSent carrying a RequestMessage labelled by the orchestration's
sorter (from orchestration time, so replays label alike); its answer is an EventRaised named by the request
id, delivered to the task waiting for it. A delayed signal is an ``op@<time>`` EventSent (not labelled).
The locking rules are checked at the call and broken ones raise ``LockingRulesViolationError``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from taskhub.errors import EntityOperationFailedError, FormatError, LockingRulesViolationError
from taskhub.format.entities import (
    ReleaseMessage,
    RequestMessage,
    ResponseMessage,
    delayed_event_name,
    stamp_of,
)
from taskhub.format.history import FailureDetails
from taskhub.model.entities import EntityId, EntityLock
from taskhub.model.tasks import ExternalEventTask
from taskhub.model.values import from_json, to_json
from worker.engine.calls_state import CriticalSection
from worker.engine.state import ReplayState, SendEvent
from worker.entities.scheduler import capped_delivery
from worker.entities.sorter import DEFAULT_REORDER_WINDOW, label

__all__ = [
    "EntityResponseTask",
    "call_entity",
    "signal_entity",
    "lock_entities",
    "release_locks",
    "check_no_critical_section",
]


class EntityResponseTask(ExternalEventTask):
    """Waits for the EventRaised named by a request id; ``deliver`` decodes the ResponseMessage."""

    def __init__(
        self, request_id: str, on_response: Callable[[EntityResponseTask, ResponseMessage], None]
    ) -> None:
        super().__init__(request_id)
        self._on_response = on_response

    def deliver(self, text: str | None) -> None:
        try:
            response = ResponseMessage.from_json(text)
        except FormatError as exc:
            self.fail(ValueError(f"entity response {self.name!r} is not a ResponseMessage: {exc}"))
            return
        self._on_response(self, response)


def _now(state: ReplayState) -> Any:
    return stamp_of(state.current_utc_datetime)


def _request(state: ReplayState, request_id: str, **fields: Any) -> RequestMessage:
    return RequestMessage(
        id=request_id, parent=state.instance_id, parent_execution=state.execution_id, **fields
    )


def _send(state: ReplayState, target: str, msg: RequestMessage) -> None:
    if msg.due is None:
        label(state.entities.sorter, msg, target, _now(state), DEFAULT_REORDER_WINDOW)
        name = "op"
    else:
        name = delayed_event_name(capped_delivery(msg.due, _now(state)))
    state.add_action(SendEvent(state.next_id(), target, name, msg.to_json()))


def _operation(operation: Any) -> str:
    if not isinstance(operation, str) or not operation:
        raise ValueError(f"operation must be a non-empty string, got {operation!r}")
    return operation


def _input(value: Any, operation: str) -> str | None:
    return None if value is None else to_json(value, what=f"input of entity operation {operation!r}")


def check_no_critical_section(state: ReplayState, what: str) -> None:
    """Refuse ``what`` inside a critical section (sub-orchestration calls, nested locks)."""
    section = state.entities.section
    if section is not None:
        raise LockingRulesViolationError(
            f"orchestrator {state.name!r} cannot {what} while it holds (or waits for) locks on "
            f"{', '.join(section.entities)}; release the lock first (leave the `with lock:` block)"
        )


def call_entity(
    state: ReplayState, entity: EntityId, operation: Any, input: Any, request_id: str
) -> EntityResponseTask:
    op = _operation(operation)
    target = str(entity)
    section = state.entities.section
    if section is not None:
        if not section.granted:
            raise LockingRulesViolationError(
                f"orchestrator {state.name!r} called entity {target!r} before its lock was granted; "
                "yield the task of ctx.lock_entities(...) first"
            )
        if target not in section.entities:
            raise LockingRulesViolationError(
                f"orchestrator {state.name!r} called entity {target!r} inside a critical section that does not "
                f"lock it (locked: {', '.join(section.entities)})"
            )
        if target in section.in_use:
            raise LockingRulesViolationError(
                f"orchestrator {state.name!r} called locked entity {target!r} while another call to it is "
                "still running; wait for the first call"
            )
        section.in_use.add(target)

    def on_response(task: EntityResponseTask, response: ResponseMessage) -> None:
        if section is not None:
            section.in_use.discard(target)
        if response.is_error:
            task.fail(EntityOperationFailedError(target, op, _failure(response)))
            return
        try:
            task.complete(from_json(response.result))
        except ValueError as exc:
            task.fail(ValueError(f"result of operation {op!r} of entity {target!r} is not JSON ({exc})"))

    msg = _request(state, request_id, op=op, input=_input(input, op))
    _send(state, target, msg)
    task = EntityResponseTask(request_id, on_response)
    state.add_waiter(task)
    return task


def signal_entity(
    state: ReplayState, entity: EntityId, operation: Any, input: Any, signal_time: Any, request_id: str
) -> None:
    op = _operation(operation)
    target = str(entity)
    section = state.entities.section
    if section is not None and target in section.entities:
        raise LockingRulesViolationError(
            f"orchestrator {state.name!r} cannot signal entity {target!r}: it holds that entity's lock; "
            "call it instead, or signal it after the critical section"
        )
    msg = _request(state, request_id, op=op, signal=True, input=_input(input, op))
    if signal_time is not None:
        if isinstance(signal_time, timedelta):
            due = state.current_utc_datetime + signal_time
        elif isinstance(signal_time, datetime) and signal_time.tzinfo is not None:
            due = signal_time.astimezone(UTC)
        else:
            raise ValueError(
                f"signal_time must be a timedelta or a timezone-aware datetime, got {signal_time!r}"
            )
        msg.due = stamp_of(due)
    _send(state, target, msg)


def lock_entities(state: ReplayState, entities: list[EntityId], request_id: str) -> ExternalEventTask:
    check_no_critical_section(state, "lock more entities")
    if not entities:
        raise ValueError("lock_entities needs at least one entity id")
    ids = sorted({str(e): e for e in entities}.items())
    section = CriticalSection(request_id, [i for i, _ in ids])
    state.entities.section = section

    def on_response(task: EntityResponseTask, response: ResponseMessage) -> None:
        section.granted = True
        task.complete(EntityLock(lambda: release_locks(state, section), [e for _, e in ids]))

    lockset = [(e.name, e.key) for _, e in ids]
    _send(state, section.entities[0], _request(state, request_id, lockset=lockset))
    task = EntityResponseTask(request_id, on_response)
    state.add_waiter(task)
    return task


def release_locks(state: ReplayState, section: CriticalSection | None = None) -> None:
    """Send ``release`` to every locked entity (once); the orchestration leaves its critical section."""
    current = state.entities.section
    if current is None or (section is not None and section is not current):
        return
    state.entities.section = None
    text = ReleaseMessage(state.instance_id, current.lock_id).to_json()
    for target in current.entities:
        state.add_action(SendEvent(state.next_id(), target, "release", text))


def _failure(response: ResponseMessage) -> FailureDetails:
    fd = response.failure_details or {}
    message = fd.get("ErrorMessage")
    if not isinstance(message, str):
        try:
            decoded = from_json(response.result)
        except ValueError:
            decoded = response.result
        message = decoded if isinstance(decoded, str) else str(decoded)
    return FailureDetails(
        error_type=str(fd.get("ErrorType") or response.exception_type or "Error"),
        message=message,
        stack_trace=fd.get("StackTrace") if isinstance(fd.get("StackTrace"), str) else None,
    )
