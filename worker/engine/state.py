"""``ReplayState``: the one object the orchestration context and the replay executor both work on.

The context (user-facing calls) adds actions and waiters; the executor (history events) matches
actions against history, completes tasks and drives the generator. Neither reaches into the other.

Actions are what the code asked for, by id (``EventId``), counting from 0 within an execution:

===============================  ==========================================  ===========================
action                           history event that records it               completion event(s)
===============================  ==========================================  ===========================
:class:`ScheduleTask`            ``TaskScheduled``                           ``TaskCompleted/Failed``
:class:`CreateTimer`             ``TimerCreated``                            ``TimerFired``
:class:`CreateSubOrchestration`  ``SubOrchestrationInstanceCreated``         ``SubOrchestration...Completed/Failed``
:class:`SendEvent`               ``EventSent``                               none
===============================  ==========================================  ===========================
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from taskhub.format.history import (
    EventRaisedEvent,
    ExecutionStartedEvent,
    FailureDetails,
    HistoryEvent,
    OrchestrationStatus,
)
from taskhub.model.tasks import CompletableTask, ExternalEventTask, RetryPolicy
from worker.engine.calls_state import EntityCalls

__all__ = [
    "ScheduleTask",
    "CreateTimer",
    "CreateSubOrchestration",
    "SendEvent",
    "Action",
    "describe_action",
    "CallTask",
    "OpenTask",
    "Completion",
    "ContinueAsNewRequest",
    "ReplayState",
]


@dataclass(frozen=True)
class ScheduleTask:
    """Run an activity."""

    id: int
    name: str
    input: str | None
    kind: Literal["activity"] = "activity"
    tags: dict[str, str] | None = None
    """Tags of its ``TaskScheduled`` history event (an executor's own bookkeeping), or None."""


@dataclass(frozen=True)
class CreateTimer:
    """Fire a timer at ``fire_at`` (UTC)."""

    id: int
    fire_at: datetime
    kind: Literal["timer"] = "timer"


@dataclass(frozen=True)
class CreateSubOrchestration:
    """Start a child orchestration ``name`` as instance ``instance_id``."""

    id: int
    name: str
    instance_id: str
    input: str | None
    version: str = ""
    """The child's version (its ``ExecutionStarted.Version``)."""
    kind: Literal["sub-orchestration"] = "sub-orchestration"
    tags: dict[str, str] | None = None
    """Tags of its ``SubOrchestrationInstanceCreated`` history event, or None."""


@dataclass(frozen=True)
class SendEvent:
    """Raise event ``name`` on instance ``instance_id``."""

    id: int
    instance_id: str
    name: str
    input: str | None
    kind: Literal["event"] = "event"


Action = ScheduleTask | CreateTimer | CreateSubOrchestration | SendEvent


def describe_action(action: Action) -> str:
    """How an action reads in error messages: ``activity 'say_hello'``, ``timer firing at ...``."""
    if isinstance(action, ScheduleTask):
        return f"scheduled activity {action.name!r}"
    if isinstance(action, CreateTimer):
        return f"created a timer firing at {action.fire_at.isoformat()}"
    if isinstance(action, CreateSubOrchestration):
        return f"started sub-orchestration {action.name!r} (instance {action.instance_id!r})"
    return f"sent event {action.name!r} to instance {action.instance_id!r}"


class CallTask(CompletableTask[Any]):
    """An activity or sub-orchestration call, with what a retry needs to schedule it again."""

    def __init__(
        self,
        *,
        kind: Literal["activity", "sub-orchestration"],
        name: str,
        input: str | None,
        retry_policy: RetryPolicy | None,
        first_attempt_at: datetime,
        instance_id: str | None = None,
        version: str = "",
    ) -> None:
        super().__init__()
        self.version = version
        self.kind = kind
        self.name = name
        self.input = input
        self.retry_policy = retry_policy
        self.first_attempt_at = first_attempt_at
        self.instance_id = instance_id
        self.attempts = 0
        """Attempts scheduled so far."""

    def __repr__(self) -> str:
        return f"CallTask({self.kind} {self.name!r}, attempts={self.attempts})"


@dataclass
class OpenTask:
    """A task waiting for the completion of ``action``."""

    task: CompletableTask[Any]
    action: Action


@dataclass(frozen=True)
class ContinueAsNewRequest:
    input: str
    save_events: bool


@dataclass(frozen=True)
class Completion:
    """How the execution ended. ``action_id`` is the ``EventId`` of its ``ExecutionCompleted``."""

    action_id: int
    status: OrchestrationStatus
    result: str | None = None
    failure_details: FailureDetails | None = None
    new_input: str | None = None
    save_events: bool = False
    carried_events: tuple[EventRaisedEvent, ...] = ()


@dataclass
class _Buffered:
    order: int
    event: EventRaisedEvent


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class ReplayState:
    """Everything one replay of one execution knows; created by each replay from history, and kept
    between episodes by an extended session (``worker.engine.replay.Replay``)."""

    instance_id: str
    started: ExecutionStartedEvent | None = None
    current_utc_datetime: datetime = EPOCH
    is_replaying: bool = True
    sequence: int = 0
    """The next action id."""
    pending_actions: dict[int, Action] = field(default_factory=dict)
    """Actions the code made that no history event has confirmed yet (at the end: the new actions)."""
    open_tasks: dict[int, OpenTask] = field(default_factory=dict)
    """Tasks waiting for a completion event, by the id that event will carry."""
    completed_ids: set[int] = field(default_factory=set)
    buffered_events: dict[str, deque[_Buffered]] = field(default_factory=dict)
    """Events nobody waited for yet, FIFO per lower-cased name."""
    waiters: dict[str, deque[ExternalEventTask]] = field(default_factory=dict)
    suspended: bool = False
    held_events: list[HistoryEvent] = field(default_factory=list)
    """Events received while suspended, replayed on resume."""
    custom_status: str | None = None
    continue_as_new: ContinueAsNewRequest | None = None
    completion: Completion | None = None
    uuid_counter: int = 0
    entities: EntityCalls = field(default_factory=EntityCalls)
    """Entity calls: the sorter labelling requests, and the critical section (``worker.entities``)."""
    history: tuple[tuple[HistoryEvent, ...], tuple[HistoryEvent, ...]] = ((), ())
    """The (past, new) events this replay runs over, for code that needs the whole history at once
    (the Durable Functions SDK shim in ``worker.functions``)."""
    _event_order: int = 0

    # --- identity (from ExecutionStarted) -------------------------------------------------------

    @property
    def execution_id(self) -> str:
        instance = self.started.orchestration_instance if self.started else None
        return (instance.execution_id if instance else None) or ""

    @property
    def name(self) -> str:
        return (self.started.name if self.started else None) or ""

    @property
    def version(self) -> str:
        return (self.started.version if self.started else None) or ""

    @property
    def parent_instance_id(self) -> str | None:
        parent = self.started.parent_instance if self.started else None
        if parent is None or parent.orchestration_instance is None:
            return None
        return parent.orchestration_instance.instance_id

    # --- actions --------------------------------------------------------------------------------

    def next_id(self) -> int:
        action_id = self.sequence
        self.sequence += 1
        return action_id

    def add_action(self, action: Action, task: CompletableTask[Any] | None = None) -> None:
        """Record a new action and, if given, the task its completion event completes."""
        self.pending_actions[action.id] = action
        if task is not None:
            self.open_tasks[action.id] = OpenTask(task, action)

    def new_actions(self) -> list[Action]:
        return [self.pending_actions[i] for i in sorted(self.pending_actions)]

    # --- external events ------------------------------------------------------------------------

    def buffer_event(self, event: EventRaisedEvent) -> None:
        key = (event.name or "").lower()
        self._event_order += 1
        self.buffered_events.setdefault(key, deque()).append(_Buffered(self._event_order, event))

    def take_buffered_event(self, name: str) -> EventRaisedEvent | None:
        queue = self.buffered_events.get(name.lower())
        if not queue:
            return None
        return queue.popleft().event

    def add_waiter(self, task: ExternalEventTask) -> None:
        queue = self.waiters.setdefault(task.name.lower(), deque())
        queue.append(task)
        task.set_cancel_handler(lambda: queue.remove(task) if task in queue else None)

    def take_waiter(self, name: str) -> ExternalEventTask | None:
        queue = self.waiters.get(name.lower())
        if not queue:
            return None
        return queue.popleft()

    def unconsumed_events(self) -> list[EventRaisedEvent]:
        """Buffered events in arrival order (what ``continue_as_new(save_events=True)`` carries)."""
        items = [item for queue in self.buffered_events.values() for item in queue]
        return [item.event for item in sorted(items, key=lambda item: item.order)]

    # --- completion -----------------------------------------------------------------------------

    def complete(
        self,
        status: OrchestrationStatus,
        *,
        result: str | None = None,
        failure_details: FailureDetails | None = None,
        new_input: str | None = None,
        save_events: bool = False,
    ) -> None:
        """End the execution; the ``ExecutionCompleted`` takes the next action id."""
        self.completion = Completion(
            action_id=self.next_id(),
            status=status,
            result=result,
            failure_details=failure_details,
            new_input=new_input,
            save_events=save_events,
        )
