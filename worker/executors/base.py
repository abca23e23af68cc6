"""The executor seam: the interfaces the pipeline runs user code through.

An executor runs user code wherever it lives (this process, an SDK, another process) and answers with
decisions; the engine turns them into history rows and messages (``worker.engine.episode``) and the
pipeline commits them through a backend (``worker.backends.base``). Three kinds of work cross it:

- an orchestration execution: ``OrchestrationWork`` (past + new events, the session it left) ->
  ``Decisions`` (actions, custom status, completion, the session to carry on from);
- an activity: ``ActivityWork`` (its ``TaskScheduled``) -> ``ActivityOutcome`` (``TaskCompleted`` or
  ``TaskFailed``);
- an entity batch: ``EntityWork`` (the entity, the batch it fills, the operations) -> the batch's
  outcomes, recorded in the batch.

``Executor`` is all three, plus the typed capability ``keeps_sessions``: whether the executor can carry
an orchestrator on between episodes (an extended session) or replays every episode from history.
Implementations: ``worker.executors.app.AppExecutor`` (a ``taskhub.App`` in this process) and
``worker.functions.executor.FunctionsExecutor`` (Durable Functions apps through the official SDK);
``worker.registry`` picks one for an app.

Work the app does not have may run in another process: the sidecar's connected SDK workers
(``worker.sidecar.remote``), through the same seam (``WithRemote``: an executor that sends there what
the app lacks; an SDK's orchestrator answers with ``Decisions`` like any other). An executor that cannot
run a work item now raises ``LeaveForLater``: the pipeline puts the messages back, not counted toward
``poisonMessageThreshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from taskhub.format.history import HistoryEvent, TaskScheduledEvent
from worker.engine.decisions import Decisions, OrchestrationWork
from worker.entities.batch import EntityBatch

__all__ = [
    "OrchestrationWork",
    "Decisions",
    "ActivityWork",
    "ActivityOutcome",
    "EntityWork",
    "OrchestrationExecutor",
    "ActivityExecutor",
    "EntityExecutor",
    "Executor",
    "LeaveForLater",
]


class LeaveForLater(Exception):
    """Raised by an executor that cannot run a work item now (the sidecar: no connected worker takes
    it); the pipeline puts its messages back as a version rejection does, never counted toward
    ``poisonMessageThreshold``, so the work waits for a worker instead of failing."""


@dataclass(frozen=True)
class ActivityWork:
    """One activity to run: the orchestration that scheduled it and its ``TaskScheduled``."""

    instance_id: str
    event: TaskScheduledEvent
    execution_id: str | None = None
    """The execution of the orchestration that scheduled it, when the message names it."""


@dataclass(frozen=True)
class ActivityOutcome:
    """``event``: ``TaskCompleted`` or ``TaskFailed``. ``ran``: the user's function ran (and its
    process lived), False when there was nothing to run (an unknown name)."""

    event: HistoryEvent
    ran: bool


@dataclass(frozen=True)
class EntityWork:
    """One entity batch: the operations to run, in order, each recorded in ``batch``."""

    instance_id: str
    batch: EntityBatch
    operations: Sequence[Any]


class OrchestrationExecutor(Protocol):
    keeps_sessions: bool
    """True when ``Decisions.session`` can carry the orchestrator on in the next episode."""

    async def decide(self, work: OrchestrationWork) -> Decisions:
        """Run one execution over its past and new events; its decisions."""
        ...


class ActivityExecutor(Protocol):
    async def run_activity(self, work: ActivityWork) -> ActivityOutcome:
        """Run one activity; never raises for a failure of the user's code (that is a ``TaskFailed``)."""
        ...


class EntityExecutor(Protocol):
    async def run_entity_batch(self, work: EntityWork) -> None:
        """Run the operations of one entity batch, recording each outcome in ``work.batch``."""
        ...


class Executor(OrchestrationExecutor, ActivityExecutor, EntityExecutor, Protocol):
    """What a worker runs its app through: orchestrations, activities and entity batches."""

    def close(self) -> None:
        """Let go of what the executor holds (threads, processes)."""
        ...
