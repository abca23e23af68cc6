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

from taskhub.format.history import ExecutionStartedEvent, HistoryEvent, OrchestrationStatus
from taskhub.format.rows import HistoryLoad
from worker.backends.base import WorkMessage
from worker.engine.history_index import COMPLETIONS, HistoryIndex, completion_id

__all__ = ["Triage", "triage", "ZOMBIE_DEQUEUE_COUNT", "START_DEDUPE_DEQUEUE_COUNT"]

ZOMBIE_DEQUEUE_COUNT = 5
"""A completion for an instance with no history, seen more often than this, is dropped (DTFx 7.4)."""
START_DEDUPE_DEQUEUE_COUNT = 10
"""A start message whose Instances row never appears is dropped after this many tries (DTFx 7.3)."""
_DEFER_START = "start message before its Instances row"


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
    row = _Row(instance_row_execution_id, instance_row_exists, instance_row_status)
    sorter = _Sorter(history, index if index is not None else HistoryIndex(history.events), row)
    for m in sorted(messages, key=lambda m: m.order_key):
        if isinstance(m.event, ExecutionStartedEvent):
            sorter.start(m, m.event)
        else:
            sorter.other(m)
    return sorter.finish()


@dataclass(frozen=True)
class _Row:
    execution_id: str | None
    exists: bool
    status: OrchestrationStatus | None


class _Sorter:
    """The state of one triage: what history holds, and what the batch has started and completed."""

    def __init__(self, history: HistoryLoad, index: HistoryIndex, row: _Row) -> None:
        self.t = Triage()
        self.index = index
        self.row = row
        self.started = index.started
        self.current = history.execution_id
        self.terminal = index.terminal
        self.new_start: ExecutionStartedEvent | None = None
        self.completed_now: set[int] = set()

    def start(self, m: WorkMessage, ev: ExecutionStartedEvent) -> None:
        why = self._start_refused(m, ev)
        if why is None:
            self.new_start = ev
            self.t.restart = self.started is not None
            self.t.run.append(m)
        elif why == _DEFER_START:
            self.t.defer.append((m, why))
        else:
            self.t.discard.append((m, why))

    def _start_refused(self, m: WorkMessage, ev: ExecutionStartedEvent) -> str | None:
        """Why a start message is not run (``_DEFER_START``: not yet), or ``None``."""
        row, started = self.row, self.started
        exec_id = ev.orchestration_instance.execution_id if ev.orchestration_instance else m.instance.execution_id
        top_level = ev.parent_instance is None
        if self.new_start is not None:
            return "a second ExecutionStarted in one batch"
        if started is not None and not self.terminal:
            return "duplicate ExecutionStarted: the instance is already running"
        if started is not None and self.terminal and exec_id == self.current:
            return "duplicate ExecutionStarted of a finished execution"
        if top_level and not row.exists:
            if m.dequeue_count >= START_DEDUPE_DEQUEUE_COUNT:
                return "start message whose Instances row never appeared"
            return _DEFER_START
        if top_level and row.execution_id is not None and row.execution_id != exec_id:
            return "start message superseded by a newer start of the same id"
        if (
            top_level
            and started is None
            and row.status is OrchestrationStatus.TERMINATED
            and row.execution_id == exec_id
        ):  # a scheduled start whose instance was terminated while it waited (5, item 3)
            return "start message of an instance terminated before it started"
        return None

    def other(self, m: WorkMessage) -> None:
        ev, t = m.event, self.t
        target_exec = m.instance.execution_id
        new_start = self.new_start
        running_exec = (
            new_start.orchestration_instance.execution_id
            if new_start and new_start.orchestration_instance
            else self.current
        )
        if target_exec and running_exec and target_exec != running_exec:
            t.discard.append((m, f"message for execution {target_exec}, current is {running_exec}"))
        elif isinstance(ev, COMPLETIONS) and new_start is None:
            self._completion(m, ev)
        else:
            t.run.append(m)

    def _completion(self, m: WorkMessage, ev: HistoryEvent) -> None:
        t, index = self.t, self.index
        if self.started is None:
            if m.dequeue_count > ZOMBIE_DEQUEUE_COUNT:
                t.discard.append((m, "completion for an instance with no history"))
            else:
                t.defer.append((m, "completion before the instance's history"))
            return
        answered = completion_id(ev)
        if answered not in index.scheduled:
            t.defer.append((m, f"out of order: no scheduled event {answered} in history yet"))
        elif answered in index.completed or answered in self.completed_now:  # a re-run, a redelivery (7.7)
            t.discard.append((m, f"duplicate completion of id {answered}"))
        else:
            self.completed_now.add(answered)
            t.run.append(m)

    def finish(self) -> Triage:
        t = self.t
        why = None
        if self.started is None and self.new_start is None:
            why = "no such instance"
        elif self.terminal and self.new_start is None:
            why = "the instance has finished"
        if why is not None:
            t.discard.extend((m, why) for m in t.run)
            t.run = []
        return t
