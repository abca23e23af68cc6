"""The backend seam: what the pipeline asks of the store that holds a task hub, at the level of the
orchestration service (DTFx ``IOrchestrationService``; durabletask-go ``Backend``).

- ``WorkMessage``: one message of a work item, whatever carried it (its event, target instance, how
  often it was taken, where it sorts);
- ``Backend``: orchestration and entity work items (load the history, commit an episode in order,
  give a batch back, defer, discard, poison) and activity work items (fetch, complete, give back,
  poison), plus the Instances reads and repairs the pipeline needs;
- ``PartitionManager``: who owns which control queue (start, stop, the queues owned).

A failed race to commit raises ``CommitConflict``: another worker committed the instance first, and the
batch goes back at once. Implementations: ``worker.backends.azure_storage`` (the DTFx Azure Storage
format: queues, tables, lease blobs); ``worker.registry`` builds the one a worker's settings name.
Adding a backend is one folder implementing these plus one line in ``worker.registry``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from taskhub.config.settings import Settings
from taskhub.format.history import (
    ExecutionTerminatedEvent,
    HistoryEvent,
    OrchestrationInstance,
    TaskScheduledEvent,
)
from taskhub.format.rows import HistoryLoad, InstanceRow
from worker.engine.episode import Episode

__all__ = [
    "WorkMessage",
    "HistoryLoad",
    "Committed",
    "CommitConflict",
    "OrchestrationWorkItems",
    "ActivityWorkItems",
    "Listener",
    "Intake",
    "Backend",
    "PartitionManager",
    "PartitionEvents",
    "FastPaths",
]


class CommitConflict(Exception):
    """Another worker committed this instance's history first; this episode must be abandoned."""


class WorkMessage(Protocol):
    """One message of a work item."""

    @property
    def event(self) -> HistoryEvent: ...

    @property
    def instance(self) -> OrchestrationInstance: ...

    @property
    def message_id(self) -> str: ...

    @property
    def identity(self) -> str:
        """The message itself, the same for a copy that takes its place in the queue (``message_id`` is the
        queue message's, new for such a copy)."""
        ...

    @property
    def dequeue_count(self) -> int:
        """How often the message has been taken (1 the first time)."""
        ...

    @property
    def order_key(self) -> tuple[datetime, int]:
        """Where it sorts in its batch: when it was sent, then the sender's sequence number."""
        ...


@dataclass(frozen=True)
class Committed:
    """The history as the commit left it: what the next episode of the instance starts from."""

    etag: str | None
    execution_id: str
    history: list[HistoryEvent]


class OrchestrationWorkItems(Protocol):
    """Orchestration and entity work items: a session's batch of one instance's messages."""

    async def load_history(self, instance_id: str) -> HistoryLoad:
        """The instance's current execution, with the version token a commit must match."""
        ...

    async def read_instance(self, instance_id: str) -> InstanceRow | None:
        """The instance's status row, or ``None`` when there is none (yet)."""
        ...

    async def commit(
        self,
        instance_id: str,
        *,
        loaded: HistoryLoad,
        episode: Episode,
        consumed: Sequence[WorkMessage],
        episodes_before: int | None = None,
        coalesce: bool = False,
    ) -> Committed:
        """Complete a work item: messages out, history, status, consumed messages gone, in that order;
        ``CommitConflict`` when another worker committed first. ``coalesce``: a quiet status update may
        wait a little and be merged with the next."""
        ...

    async def give_back(
        self, messages: Sequence[WorkMessage], *, at_once: bool = False, delay: int | None = None
    ) -> None:
        """Abandon a work item: its messages come back (with backoff, at once, or after ``delay`` s),
        retried while the storage fails."""
        ...

    async def reject(self, messages: Sequence[WorkMessage]) -> None:
        """Leave a work item this worker may not run (its version) for another worker: back with
        backoff, not counted toward the poison threshold."""
        ...

    async def defer(self, message: WorkMessage, *, delay: int | None = None, counted: bool = True) -> None:
        """Hide a message that came too early for a while (abandoned with backoff, or ``delay`` s);
        ``counted=False``: the wait is not the message's fault and never brings it to the poison queue."""
        ...

    async def discard(self, messages: Sequence[WorkMessage]) -> None:
        """Delete messages that will never be applied (duplicates, stale)."""
        ...

    async def poison(self, message: WorkMessage, reason: str) -> None:
        """Move a message that can never be processed aside, with why."""
        ...

    async def repair_instance(self, instance_id: str, loaded: HistoryLoad) -> bool:
        """Bring the status of a finished history up to date (a commit that died half way)."""
        ...

    async def terminate_unstarted(self, instance_id: str, event: ExecutionTerminatedEvent) -> bool:
        """Mark a Pending instance that was terminated before it started; True if it was."""
        ...

    def forget(self, instance_ids: Sequence[str] | None = None) -> None:
        """Drop what is kept in memory for these instances (all: a lost lease)."""
        ...

    async def flush(self) -> None:
        """Write the status updates still waiting (a worker that stops)."""
        ...

    def report(self, err: BaseException, action: str) -> bool:
        """Say once, in one line, that the storage is failing (and what happens now, ``action``);
        False when ``err`` is not a storage condition (the caller logs it as it would)."""
        ...

    def release(self, messages: Sequence[WorkMessage]) -> None:
        """Stop keeping these messages hidden (they were deleted, given back or handed on)."""
        ...


class ActivityWorkItems(Protocol):
    """Activity work items: one ``TaskScheduled`` each, shared by all workers. Messages that cannot be
    decoded never come out of ``fetch``: the backend sets them aside itself."""

    async def fetch(self, max_messages: int) -> list[WorkMessage]:
        """Take up to ``max_messages`` work items (kept hidden while held)."""
        ...

    async def settled(self, instance_id: str) -> None:
        """Wait while this process is still committing the orchestration that scheduled an activity."""
        ...

    async def complete(self, message: WorkMessage, result: HistoryEvent, *, hand_over: bool) -> bool:
        """Send an activity's result to its orchestration, then delete the work item; with
        ``hand_over`` the result may go straight into a session of this process (True when it did)."""
        ...

    async def give_back(self, messages: Sequence[WorkMessage], *, at_once: bool = False) -> None:
        """Abandon work items: they come back (with backoff, or at once)."""
        ...

    async def reject(self, messages: Sequence[WorkMessage]) -> None:
        """Back to the queue for another worker (or later), not counted toward ``poisonMessageThreshold``
        (an executor that cannot run it now: ``worker.executors.base.LeaveForLater``)."""
        ...

    async def poison(self, message: WorkMessage, reason: str) -> None:
        """Move a work item that can never be run aside, with why."""
        ...

    async def fail_poisoned(self, message: WorkMessage, event: TaskScheduledEvent) -> HistoryEvent:
        """Move a work item that failed too often aside; the ``TaskFailed`` its orchestration gets."""
        ...

    def report(self, err: BaseException, action: str) -> bool:
        """Say once, in one line, that the storage is failing (and what happens now, ``action``);
        False when ``err`` is not a storage condition (the caller logs it as it would)."""
        ...

    def release(self, messages: Sequence[WorkMessage]) -> None:
        """Stop keeping these messages hidden (they were deleted, given back or handed on)."""
        ...

    def subscribe(
        self,
        *,
        wake: Callable[[], None],
        reserve: Callable[[TaskScheduledEvent, OrchestrationInstance], bool] | None,
        take: Callable[[WorkMessage], None],
        release: Callable[[], None],
    ) -> Callable[[], None]:
        """Be told when work items may be waiting (``wake``) and, with ``reserve``, take the ones this
        process sends itself without a fetch (local dispatch: ``reserve(event, instance)`` keeps room and
        says yes, ``take`` gets the held item, ``release`` gives the room back). Returns the unsubscribe."""
        ...


class Intake(Protocol):
    """Where a listener puts what it fetched (the pipeline's sessions)."""

    @property
    def buffered(self) -> int:
        """Messages in memory, waiting or being processed (a listener pauses above its threshold)."""
        ...

    def submit(self, queue: str, instance_id: str, messages: Sequence[WorkMessage]) -> None: ...


class Listener(Protocol):
    """Fetches one control queue's orchestration work items while this worker owns it."""

    def start(self) -> None: ...

    async def stop(self) -> None:
        """Fetch no more (what was fetched is still processed)."""
        ...

    def wake(self) -> None:
        """Poll now (another worker went away and its messages are visible again)."""
        ...


class Backend(Protocol):
    """One worker's task hub: its work items, the partition manager, the fetch loops."""

    settings: Settings
    orchestrations: OrchestrationWorkItems
    activities: ActivityWorkItems

    async def start(self) -> None:
        """Create what the hub needs if it is missing; ready to fetch."""
        ...

    async def close(self, timeout: float | None = None) -> None:
        """Let go of every held message and connection (finishing what is under way for at most
        ``timeout`` s)."""
        ...

    def stopping(self) -> None:
        """A stop began: what is given back is tried once, not retried past the stop's deadline."""
        ...

    def watch(self, *, recreated: Callable[[], None]) -> None:
        """Call ``recreated`` after the hub was found gone (storage wiped) and created again."""
        ...

    def partition_manager(self, worker_id: str, events: PartitionEvents) -> PartitionManager: ...

    def listener(self, queue: str, intake: Intake, *, worker_id: str) -> Listener:
        """A fetch loop for ``queue``: each instance's messages of a batch go to ``intake.submit``."""
        ...

    def fast_paths(self) -> FastPaths:
        """How often this backend's fast paths were taken so far (``sessions_resumed`` is the worker's)."""
        ...


@dataclass(frozen=True)
class FastPaths:
    """How often each fast path (README "Performance") was taken by one worker since it started:
    ``Worker.fast_paths``, and ``taskhub_fast_path_total`` in the metrics. A switched-off path stays 0."""

    sessions_resumed: int = 0
    """Episodes that carried on in memory instead of replaying the history (extended sessions)."""
    local_activities: int = 0
    """Work items this process sent and ran itself, with no receive (local dispatch)."""
    local_results: int = 0
    """Activity results handed to this process's own session of their orchestration, with no receive
    (local dispatch)."""
    rows_deferred: int = 0
    """Quiet Instances-row merges that waited instead of being written at once (quiet Instances rows)."""
    rows_coalesced: int = 0
    """Waiting merges replaced by a later one: Instances-row writes saved (quiet Instances rows)."""
    wakeups_received: int = 0
    """Wake-ups received from the hub's other processes on this machine: each ends a poll wait at once
    (local wake-ups)."""
    group_steps: int = 0
    """Episodes decided in memory and committed with a later one of the same orchestration (group commit)."""
    group_activities: int = 0
    """Activities run in memory by group commits, with no work item written (group commit)."""

    def as_labels(self) -> dict[str, int]:
        """By the ``path`` label of ``taskhub_fast_path_total``."""
        return {
            "session_resumed": self.sessions_resumed,
            "local_activity": self.local_activities,
            "local_result": self.local_results,
            "row_deferred": self.rows_deferred,
            "row_coalesced": self.rows_coalesced,
            "wakeup_received": self.wakeups_received,
            "group_step": self.group_steps,
            "group_activity": self.group_activities,
        }


@dataclass(frozen=True)
class PartitionEvents:
    """What a partition manager tells the worker."""

    start_listening: Callable[[str], Awaitable[None]]
    stop_listening: Callable[[str], Awaitable[None]]
    ownership_lost: Callable[[str], Awaitable[None]]
    is_busy: Callable[[str], bool]
    peer_gone: Callable[[], None]


class PartitionManager(Protocol):
    """Balances the control queues among the live workers; one implementation per lease scheme."""

    def start(self) -> None: ...

    async def shutdown(self, timeout: float) -> None:
        """Stop listening everywhere, release intents, and release each ownership once drained."""
        ...

    def owned_queues(self) -> list[str]: ...
