"""What orchestrator and activity code receives as ``ctx``.

:class:`OrchestrationContext` is declared here and implemented by the worker's replay engine
(``worker.context``); user code only ever sees this interface. :class:`ActivityContext` is concrete.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from taskhub.model.entities import EntityId, EntityLock
from taskhub.model.tasks import RetryPolicy, Task, TimerTask

__all__ = ["OrchestrationContext", "ActivityContext", "FunctionRef"]

FunctionRef = str | Callable[..., Any]
"""A registered function, by name or by the function object itself."""


class OrchestrationContext(ABC):
    """The orchestrator's view of its instance. Every call is deterministic under replay.

    Calls that schedule work (activities, sub-orchestrations, timers, events) record an action whose
    id counts from 0 within the execution, in call order; the action reaches storage when the
    orchestrator next waits.
    """

    @property
    @abstractmethod
    def instance_id(self) -> str:
        """The id of this orchestration instance."""

    @property
    @abstractmethod
    def execution_id(self) -> str:
        """The id of this execution (a new one after each ``continue_as_new``)."""

    @property
    @abstractmethod
    def parent_instance_id(self) -> str | None:
        """The instance id of the parent orchestration, for a sub-orchestration; else ``None``."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The registered name of this orchestrator."""

    @property
    @abstractmethod
    def version(self) -> str:
        """The version this instance was started with (``""`` when it has none): the client's
        ``version=``, else its ``defaultVersion``; a sub-orchestration's comes from its parent's call.
        It stays the same across ``continue_as_new``."""

    @property
    @abstractmethod
    def current_utc_datetime(self) -> datetime:
        """Deterministic time (timezone-aware UTC): when the current replayed episode started."""

    @property
    @abstractmethod
    def is_replaying(self) -> bool:
        """True while the code re-executes history that was already checkpointed."""

    @abstractmethod
    def call_activity(
        self,
        fn_or_name: FunctionRef,
        *,
        input: Any = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Task[Any]:
        """Schedule an activity; the task completes with its output or fails with ``TaskFailedError``."""

    @abstractmethod
    def call_sub_orchestrator(
        self,
        fn_or_name: FunctionRef,
        *,
        input: Any = None,
        instance_id: str | None = None,
        retry_policy: RetryPolicy | None = None,
        version: str | None = None,
    ) -> Task[Any]:
        """Start a child orchestration and wait for its output.

        The default child instance id is ``f"{ctx.instance_id}:{n:04x}"``, ``n`` being the action id,
        so it is the same on every replay. The child runs at ``version``, by default this instance's.
        """

    @abstractmethod
    def create_timer(self, fire_at: datetime | timedelta) -> TimerTask:
        """A durable timer firing at ``fire_at`` (timezone-aware) or after ``fire_at`` (a timedelta).

        Naive datetimes are rejected with ``ValueError``. The task has ``cancel()``.
        """

    @abstractmethod
    def wait_for_external_event(self, name: str) -> Task[Any]:
        """Wait for an event raised to this instance; names match case-insensitively.

        Events that arrive before anyone waits are kept, first in first out per name.
        """

    @abstractmethod
    def send_event(self, instance_id: str, name: str, *, data: Any = None) -> None:
        """Raise an event on another orchestration instance (one-way)."""

    @abstractmethod
    def continue_as_new(self, new_input: Any, *, save_events: bool = False) -> None:
        """Restart this orchestration with ``new_input`` and a fresh history once the code next waits
        or returns. With ``save_events``, events received but not yet consumed carry over."""

    @abstractmethod
    def set_custom_status(self, value: Any) -> None:
        """A JSON value shown in status queries."""

    @abstractmethod
    def new_uuid(self) -> str:
        """A deterministic UUID (version 5), different for every call, equal on every replay."""

    @abstractmethod
    def create_replay_safe_logger(self, logger: logging.Logger) -> logging.LoggerAdapter[logging.Logger]:
        """A wrapper of ``logger`` that writes nothing while the orchestrator is replaying."""

    @abstractmethod
    def call_entity(self, entity_id: EntityId | str, operation: str, *, input: Any = None) -> Task[Any]:
        """Call an entity operation; the task's result is its return value, a failure raises
        ``EntityOperationFailedError``. Inside a critical section only locked entities may be called."""

    @abstractmethod
    def signal_entity(
        self,
        entity_id: EntityId | str,
        operation: str,
        *,
        input: Any = None,
        signal_time: datetime | timedelta | None = None,
    ) -> None:
        """Send a one-way operation to an entity, delayed until ``signal_time`` when given."""

    @abstractmethod
    def lock_entities(self, *entity_ids: EntityId | str) -> Task[EntityLock]:
        """Lock entities for a critical section: ``lock = yield ctx.lock_entities(a, b)``, then ``with lock:``.

        The locks are released when the block ends, and when the orchestrator ends (entities.md 3). Inside,
        no more locks, no sub-orchestration calls and no signals to the locked entities."""


@dataclass(frozen=True)
class ActivityContext:
    """What an activity receives as ``ctx``."""

    orchestration_id: str
    """The instance id of the orchestration that scheduled this activity."""
    task_id: int
    """The id of the scheduling event (``TaskScheduled.EventId``) within that orchestration."""
    name: str
    """The registered name of the activity."""
