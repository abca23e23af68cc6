"""``ReplayContext``: the ``taskhub.OrchestrationContext`` user code gets, over one ``ReplayState``.

Everything is deterministic: time is the current ``OrchestratorStarted`` timestamp, ids count in call
order, UUIDs derive from both. Values are checked for JSON at the call site.

Long timers follow Durable Functions: a timer due more than ``MAXIMUM_SHORT_TIMER_DURATION`` (6 days)
from now is carried by a chain of timers of at most ``LONG_RUNNING_TIMER_INTERVAL`` (3 days) each, every
link its own ``TimerCreated``; the user's task completes when the last link (due at the requested
time) fires. Both are module constants, read at call time, so tests may override them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

from taskhub.format.history import EventRaisedEvent
from taskhub.model.app import App
from taskhub.model.context import FunctionRef, OrchestrationContext
from taskhub.model.entities import EntityId, EntityLock
from taskhub.model.tasks import CompletableTask, ExternalEventTask, RetryPolicy, Task, TimerTask
from taskhub.model.values import from_json, to_json
from worker.engine import entity_calls
from worker.engine.state import (
    CallTask,
    ContinueAsNewRequest,
    CreateSubOrchestration,
    CreateTimer,
    ReplayState,
    ScheduleTask,
    SendEvent,
)

__all__ = [
    "MAXIMUM_SHORT_TIMER_DURATION",
    "LONG_RUNNING_TIMER_INTERVAL",
    "ReplayContext",
    "ReplaySafeLogger",
    "schedule_call",
    "schedule_timer_link",
    "complete_from_json",
    "deliver_event",
    "deterministic_uuid",
]

MAXIMUM_SHORT_TIMER_DURATION = timedelta(days=6)
"""Timers due further away than this are split into a chain (DF ``maximumShortTimerDuration``)."""
LONG_RUNNING_TIMER_INTERVAL = timedelta(days=3)
"""The length of each link of a chained timer (DF ``longRunningTimerIntervalDuration``)."""

_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_OID, "9e952958-5e33-4daf-827f-2fa12937b875")
"""The namespace durabletask-python (and the DF Python SDK) derive deterministic UUIDs in."""


def _next_uuid(state: ReplayState) -> str:
    """The next deterministic UUID of this execution (``new_uuid``)."""
    value = deterministic_uuid(state.instance_id, state.current_utc_datetime, state.uuid_counter)
    state.uuid_counter += 1
    return value


class _EntityCalls:
    """The entity calls of an orchestration context (``worker.engine.entity_calls``): call, signal and
    lock, each with the execution's next deterministic UUID as its request id."""

    _state: ReplayState

    def call_entity(self, entity_id: EntityId | str, operation: str, *, input: Any = None) -> Task[Any]:
        return entity_calls.call_entity(self._state, EntityId.of(entity_id), operation, input, _next_uuid(self._state))

    def signal_entity(
        self,
        entity_id: EntityId | str,
        operation: str,
        *,
        input: Any = None,
        signal_time: datetime | timedelta | None = None,
    ) -> None:
        target = EntityId.of(entity_id)
        entity_calls.signal_entity(self._state, target, operation, input, signal_time, _next_uuid(self._state))

    def lock_entities(self, *entity_ids: EntityId | str) -> Task[EntityLock]:
        if len(entity_ids) == 1 and isinstance(entity_ids[0], (list, tuple, set)):
            entity_ids = tuple(entity_ids[0])
        ids = [EntityId.of(e) for e in entity_ids]
        return entity_calls.lock_entities(self._state, ids, _next_uuid(self._state))


class ReplayContext(_EntityCalls, OrchestrationContext):
    """The orchestration context of one replay; see ``taskhub.OrchestrationContext`` for the contract."""

    def __init__(self, app: App, state: ReplayState) -> None:
        self._app = app
        self._state = state

    # --- identity and clock ---------------------------------------------------------------------

    @property
    def replay_state(self) -> ReplayState:
        """The state this context works on (for hosts that drive it directly, e.g. ``worker.functions``)."""
        return self._state

    @property
    def instance_id(self) -> str:
        return self._state.instance_id

    @property
    def execution_id(self) -> str:
        return self._state.execution_id

    @property
    def parent_instance_id(self) -> str | None:
        return self._state.parent_instance_id

    @property
    def name(self) -> str:
        return self._state.name

    @property
    def version(self) -> str:
        return self._state.version

    @property
    def current_utc_datetime(self) -> datetime:
        return self._state.current_utc_datetime

    @property
    def is_replaying(self) -> bool:
        return self._state.is_replaying

    # --- scheduling -----------------------------------------------------------------------------

    def call_activity(
        self,
        fn_or_name: FunctionRef,
        *,
        input: Any = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Task[Any]:
        name = self._app.activity_name(fn_or_name)
        task = CallTask(
            kind="activity",
            name=name,
            input=_encode(input, f"input of activity {name!r}"),
            retry_policy=_check_policy(retry_policy),
            first_attempt_at=self._state.current_utc_datetime,
        )
        schedule_call(self._state, task)
        return task

    def call_sub_orchestrator(
        self,
        fn_or_name: FunctionRef,
        *,
        input: Any = None,
        instance_id: str | None = None,
        retry_policy: RetryPolicy | None = None,
        version: str | None = None,
    ) -> Task[Any]:
        name = self._app.orchestrator_name(fn_or_name)
        if version is not None and not isinstance(version, str):
            raise TypeError(f"version must be a string, got {type(version).__name__}")
        entity_calls.check_no_critical_section(self._state, f"call sub-orchestrator {name!r}")
        if instance_id is not None and (not isinstance(instance_id, str) or not instance_id):
            raise ValueError(f"instance_id must be a non-empty string, got {instance_id!r}")
        task = CallTask(
            kind="sub-orchestration",
            name=name,
            input=_encode(input, f"input of sub-orchestrator {name!r}"),
            retry_policy=_check_policy(retry_policy),
            first_attempt_at=self._state.current_utc_datetime,
            instance_id=instance_id,
            version=self._state.version if version is None else version,
        )
        schedule_call(self._state, task)
        return task

    def create_timer(self, fire_at: datetime | timedelta) -> TimerTask:
        now = self._state.current_utc_datetime
        if isinstance(fire_at, timedelta):
            due = now + fire_at
        elif isinstance(fire_at, datetime):
            if fire_at.tzinfo is None or fire_at.utcoffset() is None:
                raise ValueError(
                    f"create_timer needs a timezone-aware datetime, got the naive {fire_at.isoformat()}; "
                    "use ctx.current_utc_datetime + timedelta(...) or pass a timedelta"
                )
            due = fire_at.astimezone(UTC)
        else:
            raise TypeError(f"create_timer takes a datetime or a timedelta, got {type(fire_at).__name__}")
        task = TimerTask(due)
        schedule_timer_link(self._state, task)
        return task

    def wait_for_external_event(self, name: str) -> Task[Any]:
        if not isinstance(name, str) or not name:
            raise ValueError(f"event name must be a non-empty string, got {name!r}")
        task = ExternalEventTask(name)
        event = self._state.take_buffered_event(name)
        if event is not None:
            deliver_event(task, event)
        else:
            self._state.add_waiter(task)
        return task

    def send_event(self, instance_id: str, name: str, *, data: Any = None) -> None:
        if not isinstance(instance_id, str) or not instance_id:
            raise ValueError(f"instance_id must be a non-empty string, got {instance_id!r}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"event name must be a non-empty string, got {name!r}")
        encoded = _encode(data, f"data of event {name!r}")
        self._state.add_action(SendEvent(self._state.next_id(), instance_id, name, encoded))

    # --- the instance itself --------------------------------------------------------------------

    def continue_as_new(self, new_input: Any, *, save_events: bool = False) -> None:
        encoded = to_json(new_input, what=f"input of continue_as_new in orchestrator {self.name!r}")
        self._state.continue_as_new = ContinueAsNewRequest(encoded, bool(save_events))

    def set_custom_status(self, value: Any) -> None:
        self._state.custom_status = to_json(value, what=f"custom status of orchestrator {self.name!r}")

    def new_uuid(self) -> str:
        return _next_uuid(self._state)

    def create_replay_safe_logger(self, logger: logging.Logger) -> logging.LoggerAdapter[logging.Logger]:
        return ReplaySafeLogger(logger, self._state)


class ReplaySafeLogger(logging.LoggerAdapter[logging.Logger]):
    """Passes records to ``logger`` only while the orchestrator is not replaying."""

    def __init__(self, logger: logging.Logger, state: ReplayState) -> None:
        super().__init__(logger, {})
        self._state = state

    def isEnabledFor(self, level: int) -> bool:
        return not self._state.is_replaying and self.logger.isEnabledFor(level)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs  # keep the caller's own ``extra``


# --- shared with the executor (retries, timer chains, event delivery) --------------------------------


def schedule_call(state: ReplayState, task: CallTask) -> None:
    """Schedule (another attempt of) an activity or sub-orchestration under a new action id."""
    action_id = state.next_id()
    task.attempts += 1
    if task.kind == "activity":
        state.add_action(ScheduleTask(action_id, task.name, task.input), task)
        return
    if task.instance_id is None:  # fixed by the first attempt; retries reuse it
        task.instance_id = f"{state.instance_id}:{action_id:04x}"
    action = CreateSubOrchestration(action_id, task.name, task.instance_id, task.input, task.version)
    state.add_action(action, task)


def schedule_timer_link(state: ReplayState, task: TimerTask) -> None:
    """Create the next timer of ``task``: the final one, or a link of a chain if that is too far."""
    now = state.current_utc_datetime
    link = (
        now + LONG_RUNNING_TIMER_INTERVAL
        if task.fire_at - now > MAXIMUM_SHORT_TIMER_DURATION
        else task.fire_at
    )
    state.add_action(CreateTimer(state.next_id(), link), task)


def complete_from_json(task: CompletableTask[Any], text: str | None, what: str) -> None:
    """Complete ``task`` with the value of JSON ``text``; text that is not JSON fails the task."""
    try:
        value = from_json(text)
    except ValueError as exc:
        task.fail(ValueError(f"{what} is not valid JSON ({exc}): {text!r:.200}"))
        return
    task.complete(value)


def deliver_event(task: ExternalEventTask, event: EventRaisedEvent) -> None:
    if isinstance(task, entity_calls.EntityResponseTask):
        task.deliver(event.input)
        return
    complete_from_json(task, event.input, f"data of event {task.name!r}")


def deterministic_uuid(instance_id: str, when: datetime, counter: int) -> str:
    """UUID v5 of ``"{instance_id}_{when:%Y-%m-%dT%H:%M:%S.%fZ}_{counter}"``, durabletask-python's scheme."""
    return str(
        uuid.uuid5(_UUID_NAMESPACE, f"{instance_id}_{when.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}_{counter}")
    )


def _encode(value: Any, what: str) -> str | None:
    return None if value is None else to_json(value, what=what)


def _check_policy(policy: RetryPolicy | None) -> RetryPolicy | None:
    if policy is not None and not isinstance(policy, RetryPolicy):
        raise TypeError(f"retry_policy must be a taskhub.RetryPolicy, got {type(policy).__name__}")
    return policy
