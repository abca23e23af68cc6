"""Triage: one orchestration work item's messages sorted into run / discard / defer (pure; the rules of
runtime.md 7.3, 7.4).

* **run**: events the orchestrator should see in this episode;
* **discard**: duplicates and messages for executions or instances that no longer exist (deleted);
* **defer**: messages that arrived before what they answer was committed (abandoned with backoff, so
  they come back after the sender's checkpoint lands).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from taskhub.format.history import ExecutionStartedEvent, OrchestrationStatus
from taskhub.format.rows import HistoryLoad
from worker.backends.base import WorkMessage
from worker.engine.history_index import COMPLETIONS, HistoryIndex, completion_id

__all__ = ["Triage", "triage", "ZOMBIE_DEQUEUE_COUNT", "START_DEDUPE_DEQUEUE_COUNT"]

ZOMBIE_DEQUEUE_COUNT = 5
"""A completion for an instance with no history, seen more often than this, is dropped (DTFx 7.4)."""
START_DEDUPE_DEQUEUE_COUNT = 10
"""A start message whose Instances row never appears is dropped after this many tries (DTFx 7.3)."""


@dataclass
class Triage:
    run: list[WorkMessage] = field(default_factory=list)
    discard: list[tuple[WorkMessage, str]] = field(default_factory=list)
    defer: list[tuple[WorkMessage, str]] = field(default_factory=list)
    restart: bool = False
    """True when the batch starts a new generation of a finished instance (history is replaced)."""


def triage(
    history: HistoryLoad,
    messages: Sequence[WorkMessage],
    *,
    instance_row_execution_id: str | None = None,
    instance_row_exists: bool = True,
    instance_row_status: OrchestrationStatus | None = None,
    index: HistoryIndex | None = None,
) -> Triage:
    """Sort a batch into run / discard / defer (pure; the rules of runtime.md 7.3-7.4). ``index`` is
    ``HistoryIndex(history.events)``, passed in when the caller keeps one up to date."""
    t = Triage()
    index = index if index is not None else HistoryIndex(history.events)
    started = index.started
    current = history.execution_id
    terminal = index.terminal
    ordered = sorted(messages, key=lambda m: m.order_key)
    new_start: ExecutionStartedEvent | None = None
    completed_now: set[int] = set()
    for m in ordered:
        ev = m.event
        target_exec = m.instance.execution_id
        if isinstance(ev, ExecutionStartedEvent):
            exec_id = ev.orchestration_instance.execution_id if ev.orchestration_instance else target_exec
            if new_start is not None:
                t.discard.append((m, "a second ExecutionStarted in one batch"))
            elif started is not None and not terminal:
                t.discard.append((m, "duplicate ExecutionStarted: the instance is already running"))
            elif started is not None and terminal and exec_id == current:
                t.discard.append((m, "duplicate ExecutionStarted of a finished execution"))
            elif ev.parent_instance is None and not instance_row_exists:
                if m.dequeue_count >= START_DEDUPE_DEQUEUE_COUNT:
                    t.discard.append((m, "start message whose Instances row never appeared"))
                else:
                    t.defer.append((m, "start message before its Instances row"))
            elif (
                ev.parent_instance is None
                and instance_row_execution_id is not None
                and instance_row_execution_id != exec_id
            ):
                t.discard.append((m, "start message superseded by a newer start of the same id"))
            elif (
                ev.parent_instance is None
                and started is None
                and instance_row_status is OrchestrationStatus.TERMINATED
                and instance_row_execution_id == exec_id
            ):  # a scheduled start whose instance was terminated while it waited (5, item 3)
                t.discard.append((m, "start message of an instance terminated before it started"))
            else:
                new_start = ev
                t.restart = started is not None
                t.run.append(m)
            continue
        running_exec = (
            new_start.orchestration_instance.execution_id
            if new_start and new_start.orchestration_instance
            else current
        )
        if target_exec and running_exec and target_exec != running_exec:
            t.discard.append((m, f"message for execution {target_exec}, current is {running_exec}"))
            continue
        if isinstance(ev, COMPLETIONS) and new_start is None:
            if started is None:
                if m.dequeue_count > ZOMBIE_DEQUEUE_COUNT:
                    t.discard.append((m, "completion for an instance with no history"))
                else:
                    t.defer.append((m, "completion before the instance's history"))
                continue
            answered = completion_id(ev)
            if answered not in index.scheduled:
                t.defer.append((m, f"out of order: no scheduled event {answered} in history yet"))
                continue
            if answered in index.completed or answered in completed_now:  # a re-run, a redelivery (7.7)
                t.discard.append((m, f"duplicate completion of id {answered}"))
                continue
            completed_now.add(answered)
        t.run.append(m)
    if started is None and new_start is None:
        for m in list(t.run):
            t.run.remove(m)
            t.discard.append((m, "no such instance"))
    elif terminal and new_start is None:
        for m in list(t.run):
            t.run.remove(m)
            t.discard.append((m, "the instance has finished"))
    return t
