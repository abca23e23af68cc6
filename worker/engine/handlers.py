"""Replay handlers for the history events that only touch ``ReplayState``: decisions and completions.

- Decision events (``TaskScheduled``, ``TimerCreated``, ``SubOrchestrationInstanceCreated``,
  ``EventSent``) confirm the pending action with the same id, of the same kind and name; anything else
  raises ``NonDeterminismError`` saying which event, what history holds and what the code did now.
- Completion events complete the task waiting on their id (``TaskScheduledId`` / ``TimerId``).
  A completion for an id already completed is ignored. A failed call with a ``RetryPolicy`` gets a
  durable timer and, when it fires, a new attempt under a new id. A fired link of a long timer creates
  the next link.
- ``EventRaised`` goes to the oldest waiter of that (case-insensitive) name, or is buffered.

The executor (``worker.engine.replay``) resumes the generator after each handler; these never touch it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from taskhub.errors import NonDeterminismError, TaskFailedError
from taskhub.format.history import (
    EventRaisedEvent,
    EventSentEvent,
    FailureDetails,
    HistoryEvent,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceCreatedEvent,
    SubOrchestrationInstanceFailedEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
    TimerFiredEvent,
)
from taskhub.model.tasks import TimerTask
from worker.engine.context import complete_from_json, deliver_event, schedule_call, schedule_timer_link
from worker.engine.state import (
    CallTask,
    CreateSubOrchestration,
    CreateTimer,
    OpenTask,
    ReplayState,
    ScheduleTask,
    SendEvent,
    describe_action,
)

__all__ = ["STATE_HANDLERS"]

logger = logging.getLogger(__name__)


# --- decisions: history must match what the code did ----------------------------------------------


def _on_task_scheduled(state: ReplayState, event: TaskScheduledEvent) -> None:
    _match(state, event, ScheduleTask, event.name, f"TaskScheduled for activity {event.name!r}")


def _on_timer_created(state: ReplayState, event: TimerCreatedEvent) -> None:
    fire_at = event.fire_at.isoformat() if event.fire_at else "?"
    _match(state, event, CreateTimer, None, f"TimerCreated firing at {fire_at}")


def _on_sub_orchestration_created(state: ReplayState, event: SubOrchestrationInstanceCreatedEvent) -> None:
    holds = f"SubOrchestrationInstanceCreated for {event.name!r} (instance {event.instance_id!r})"
    _match(state, event, CreateSubOrchestration, event.name, holds)


def _on_event_sent(state: ReplayState, event: EventSentEvent) -> None:
    _match(state, event, SendEvent, event.name, f"EventSent {event.name!r} to instance {event.instance_id!r}")


def _match(state: ReplayState, event: HistoryEvent, kind: type, name: str | None, holds: str) -> None:
    action = state.pending_actions.pop(event.event_id, None)
    if isinstance(action, kind) and (name is None or getattr(action, "name", None) == name):
        return
    if action is not None:
        did = f"{describe_action(action)} with that id"
    elif state.completion is not None:
        did = f"completed after {state.completion.action_id} call(s), without a call with that id"
    elif event.event_id < state.sequence:
        did = "made a call with that id that an earlier history event already matched"
    else:
        did = f"has made only {state.sequence} call(s) (ids 0..{state.sequence - 1}) at this point"
    raise NonDeterminismError(
        f"orchestrator {state.name!r} (instance {state.instance_id!r}) is not deterministic: at EventId "
        f"{event.event_id} history holds {holds}, but the code now {did}. An orchestrator must make the "
        "same calls in the same order on every replay; deploy changed code under a new orchestrator "
        "name or let running instances finish first"
    )


# --- completions ----------------------------------------------------------------------------------


def _on_task_completed(state: ReplayState, event: TaskCompletedEvent) -> None:
    opened = _take_open(state, event, event.task_scheduled_id, ScheduleTask)
    if opened is not None:
        complete_from_json(opened.task, event.result, f"output of activity {_name(opened)!r}")


def _on_task_failed(state: ReplayState, event: TaskFailedEvent) -> None:
    opened = _take_open(state, event, event.task_scheduled_id, ScheduleTask)
    if opened is not None:
        _call_failed(state, opened, _details(event))


def _on_sub_orchestration_completed(
    state: ReplayState, event: SubOrchestrationInstanceCompletedEvent
) -> None:
    opened = _take_open(state, event, event.task_scheduled_id, CreateSubOrchestration)
    if opened is not None:
        complete_from_json(opened.task, event.result, f"output of sub-orchestration {_name(opened)!r}")


def _on_sub_orchestration_failed(state: ReplayState, event: SubOrchestrationInstanceFailedEvent) -> None:
    opened = _take_open(state, event, event.task_scheduled_id, CreateSubOrchestration)
    if opened is not None:
        _call_failed(state, opened, _details(event))


def _on_timer_fired(state: ReplayState, event: TimerFiredEvent) -> None:
    opened = _take_open(state, event, event.timer_id, CreateTimer)
    if opened is None:
        return
    task, action = opened.task, opened.action
    assert isinstance(action, CreateTimer)
    if isinstance(task, CallTask):  # a retry's wait is over
        schedule_call(state, task)
    elif isinstance(task, TimerTask) and not task.is_cancelled:
        if action.fire_at < task.fire_at:  # a link of a long timer
            schedule_timer_link(state, task)
        else:
            task.complete(None)


def _on_event_raised(state: ReplayState, event: EventRaisedEvent) -> None:
    waiter = state.take_waiter(event.name or "") if state.completion is None else None
    if waiter is None:
        state.buffer_event(event)
    else:
        deliver_event(waiter, event)


def _take_open(state: ReplayState, event: HistoryEvent, action_id: int, kind: type) -> OpenTask | None:
    opened = state.open_tasks.pop(action_id, None)
    if opened is None:
        logger.info(
            "replay.completion_ignored instance_id=%s event=%s id=%d reason=%s",
            state.instance_id,
            type(event).__name__,
            action_id,
            "duplicate" if action_id in state.completed_ids else "unknown id",
        )
        return None
    if not isinstance(opened.action, kind):
        raise NonDeterminismError(
            f"orchestrator {state.name!r} (instance {state.instance_id!r}) is not deterministic: history "
            f"holds {type(event).__name__} for EventId {action_id}, but the code now "
            f"{describe_action(opened.action)} with that id"
        )
    state.completed_ids.add(action_id)
    return opened


def _call_failed(state: ReplayState, opened: OpenTask, details: FailureDetails) -> None:
    task = opened.task
    assert isinstance(task, CallTask)
    policy = task.retry_policy
    if policy is not None and not details.is_non_retriable:
        delay = policy.next_delay(task.attempts, state.current_utc_datetime - task.first_attempt_at)
        if delay is not None:
            state.add_action(CreateTimer(state.next_id(), state.current_utc_datetime + delay), task)
            return
    if task.kind == "activity":
        what = f"activity {task.name!r}"
    else:
        what = f"sub-orchestration {task.name!r} (instance {task.instance_id!r})"
    attempts = f" after {task.attempts} attempts" if task.attempts > 1 else ""
    task.fail(TaskFailedError(f"{what} failed{attempts}: {details}", details))


def _details(event: TaskFailedEvent | SubOrchestrationInstanceFailedEvent) -> FailureDetails:
    if event.failure_details is not None:
        return event.failure_details
    # Older peers send only Reason/Details.
    return FailureDetails(error_type="Unknown", message=event.reason or "", stack_trace=event.details)


def _name(opened: OpenTask) -> str:
    return getattr(opened.action, "name", "")


STATE_HANDLERS: dict[type[HistoryEvent], Callable[[ReplayState, Any], None]] = {
    TaskScheduledEvent: _on_task_scheduled,
    TaskCompletedEvent: _on_task_completed,
    TaskFailedEvent: _on_task_failed,
    SubOrchestrationInstanceCreatedEvent: _on_sub_orchestration_created,
    SubOrchestrationInstanceCompletedEvent: _on_sub_orchestration_completed,
    SubOrchestrationInstanceFailedEvent: _on_sub_orchestration_failed,
    TimerCreatedEvent: _on_timer_created,
    TimerFiredEvent: _on_timer_fired,
    EventSentEvent: _on_event_sent,
    EventRaisedEvent: _on_event_raised,
}
"""Handlers of the events that change only ``ReplayState``, by event class."""
