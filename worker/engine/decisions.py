"""What crosses the executor seam for an orchestration: the work handed to an executor and the decisions
it hands back (pure data; the interfaces are in ``worker.executors.base``).

An executor gets the execution's past events and the new ones (``OrchestrationWork``), runs the
orchestrator however it likes (in this process, through an SDK, in another process) and answers with
``Decisions``: the new actions, the custom status, how the execution ended (or ``None`` while it waits).
``worker.engine.episode`` then turns them into history rows and messages. ``session`` is the executor's
own: what it needs to carry on without replaying (an extended session), handed back with the next work
of the same instance, or ``None`` when it cannot carry on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from taskhub.format.history import ExecutionStartedEvent, HistoryEvent
from worker.engine.state import Action, Completion

__all__ = ["OrchestrationWork", "Decisions"]


@dataclass(frozen=True)
class OrchestrationWork:
    """One execution to decide: everything it has seen (``past``) and what arrives now (``new``)."""

    instance_id: str
    past: Sequence[HistoryEvent]
    new: Sequence[HistoryEvent]
    session: object | None = None
    """The ``Decisions.session`` of the episode that wrote the end of ``past``, or ``None``: replay."""


@dataclass(frozen=True)
class Decisions:
    """An executor's answer for one execution."""

    actions: list[Action]
    """The actions the code made that history does not hold yet, by id."""
    completion: Completion | None
    """How the execution ended (completed, failed, continued as new, ...), or ``None`` while it waits."""
    custom_status: str | None
    """JSON text of the custom status the code set, or ``None`` if it set none."""
    started: ExecutionStartedEvent
    """The execution's ``ExecutionStarted``."""
    is_suspended: bool
    session: object | None = None
    """What lets the executor carry on from here in the next episode, or ``None`` (it will replay)."""
