"""Group commit: several steps of one orchestration, one write.

When an episode schedules only activities that this process would run itself anyway (local dispatch:
an activity that has finished here before, and a free activity slot), they run at once, in memory,
before any work item exists for them; their outcomes are fed to the orchestration's next episode, which
is decided at once too, and so on. What the steps decided is committed together, by the one ordered
checkpoint: the messages, then one history batch (the events of all the steps, event for event what
the step-by-step path writes), then the Instances row.

A group ends, and is committed, when

- the orchestration waits on something that has not finished here: a timer, an external event, a
  sub-orchestration, an entity, an activity that cannot run here now (a new one, no free slot) - that
  is, when its last episode sends anything but activities it can start in memory; or it completed;
- an activity started in memory is still running when the group's time is up: its work item is
  written with the commit as always, and when this process takes that work item it completes it with
  the run's outcome instead of running the activity again (``ActivityRunner.adopt``);
- it holds ``max_events`` history events or has run ``max_ms`` (``GroupCommitConfig``), so a long chain
  of fast steps still checkpoints regularly.

Durability: nothing leaves the process before the commit that records it. A crash before the commit
loses the in-memory steps only: the message that started the group comes back, the steps replay from
the last commit, and their activities run again (at least once, as always). Groups are formed only
for a batch taken for the first time (``dequeue_count`` 1): a batch that comes back (its worker died,
perhaps in an activity that kills its process) runs step by step, so such an activity is counted by
its own work item's dequeue count and ends in the poison queue, not the orchestration's message.

Off with ``TASKHUB_GROUP_COMMIT=0`` (and whenever local dispatch is off); the bounds are
``TASKHUB_GROUP_COMMIT_MAX_EVENTS`` (default 96: one table batch of at most 99 rows) and
``TASKHUB_GROUP_COMMIT_MAX_MS`` (default 100).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from taskhub.errors import ConfigurationError
from taskhub.format.history import (
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    TaskScheduledEvent,
    utcnow,
)
from worker.engine.episode import Episode, EpisodeBuilder
from worker.telemetry import traces

__all__ = [
    "GroupCommitConfig",
    "Group",
    "InMemoryActivities",
    "run_group",
    "merge_episodes",
    "GROUP_COMMIT_ENV",
    "MAX_EVENTS_ENV",
    "MAX_MS_ENV",
]

GROUP_COMMIT_ENV = "TASKHUB_GROUP_COMMIT"
MAX_EVENTS_ENV = "TASKHUB_GROUP_COMMIT_MAX_EVENTS"
MAX_MS_ENV = "TASKHUB_GROUP_COMMIT_MAX_MS"

step_observer: Callable[[int], None] | None = None
"""Called after each step a group decided in memory (with the number of steps so far); None in
production. Tests install one (``tests/faults.py``) to kill a worker inside a group."""


@dataclass(frozen=True)
class GroupCommitConfig:
    enabled: bool = True
    max_events: int = 96
    """A group is committed once it holds at least this many history events."""
    max_ms: float = 100.0
    """... or once this many milliseconds have passed since its first step began."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GroupCommitConfig:
        """The settings of ``TASKHUB_GROUP_COMMIT*`` (a bad value is a one-line ``ConfigurationError``)."""
        env = os.environ if env is None else env
        flag = env.get(GROUP_COMMIT_ENV, "1").strip().lower()
        if flag not in ("0", "1", "true", "false", "on", "off", "yes", "no"):
            raise ConfigurationError(GROUP_COMMIT_ENV, flag, "use 1 (on, the default) or 0 (off)")
        return cls(
            enabled=flag in ("1", "true", "on", "yes"),
            max_events=_positive(env, MAX_EVENTS_ENV, cls.max_events, 10_000),
            max_ms=float(_positive(env, MAX_MS_ENV, int(cls.max_ms), 60_000)),
        )


def _positive(env: Mapping[str, str], key: str, default: int, limit: int) -> int:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 1 <= value <= limit:
        raise ConfigurationError(key, raw, f"use a whole number from 1 to {limit} (default {default})")
    return value


class InMemoryActivities(Protocol):
    """Where a group runs its activities (``worker.pipeline.activities.ActivityRunner``)."""

    def start_in_memory(
        self, instance: OrchestrationInstance, event: TaskScheduledEvent
    ) -> asyncio.Future[HistoryEvent] | None: ...

    def adopt(
        self, instance: OrchestrationInstance, event: TaskScheduledEvent, run: asyncio.Future[HistoryEvent], ttl: float
    ) -> None: ...


Decide = Callable[[EpisodeBuilder, object | None], Awaitable[Episode]]
"""Decides the episode a builder describes, from a session (the pipeline's executor call)."""


@dataclass
class Group:
    """What a group decided: ``episode`` (the steps merged, to commit as one) and the activity runs whose
    work items that commit writes while they may still be running (to be adopted, see the docstring)."""

    episode: Episode
    steps: int
    running: list[tuple[OrchestrationInstance, TaskScheduledEvent, asyncio.Future[HistoryEvent]]] = field(
        default_factory=list
    )
    taken_in: list[HistoryEvent] = field(default_factory=list)
    """The outcomes of the activities run in memory that its later steps took in (for the trace spans)."""


def _runnable(episode: Episode) -> bool:
    """Can the group carry on after this episode: it is running, and it sends activities only."""
    return (
        episode.runtime_status is OrchestrationStatus.RUNNING
        and not episode.continued_as_new
        and bool(episode.outbound)
        and all(o.kind == "activity" and isinstance(o.event, TaskScheduledEvent) for o in episode.outbound)
    )


async def run_group(
    first: Episode,
    *,
    past: Sequence[HistoryEvent],
    decide: Decide,
    activities: InMemoryActivities,
    config: GroupCommitConfig,
    sessions: bool,
) -> Group:
    """Carry ``first`` (an episode decided on top of ``past``, the committed history) on in memory as the
    module docstring says; the merged episode is ``first`` itself when no step could be added."""
    began = time.monotonic()
    deadline = began + config.max_ms / 1000
    episodes = [first]
    events = len(first.history)
    taken_in: list[HistoryEvent] = []
    while _runnable(last := episodes[-1]) and events < config.max_events and time.monotonic() < deadline:
        traces.stamp_outbound(last)  # the activities' spans are children of the context it stamps
        runs = _start(last, activities)
        if len(runs) < len(last.outbound):  # not all can run here now: commit, keep the started ones
            return Group(merge_episodes(episodes), len(episodes), runs, taken_in)
        futures = [run for _, _, run in runs]
        _done, pending = await asyncio.wait(futures, timeout=max(deadline - time.monotonic(), 0.0))
        if pending or any(f.exception() is not None for f in futures):
            return Group(merge_episodes(episodes), len(episodes), [r for r in runs if _adoptable(r[2])], taken_in)
        outcomes = [f.result() for f in futures]
        history = [*past, *(e for episode in episodes for e in episode.history)]
        builder = EpisodeBuilder(
            instance_id=first.instance_id,
            past_events=history,
            incoming_events=outcomes,
            now=utcnow(),
            new_guid=lambda: uuid.uuid4().hex,
        )
        episodes.append(await decide(builder, last.session if sessions else None))
        taken_in.extend(outcomes)
        events += len(episodes[-1].history)
        if step_observer is not None:
            step_observer(len(episodes))
    return Group(merge_episodes(episodes), len(episodes), taken_in=taken_in)


def _start(
    episode: Episode, activities: InMemoryActivities
) -> list[tuple[OrchestrationInstance, TaskScheduledEvent, asyncio.Future[HistoryEvent]]]:
    runs = []
    for out in episode.outbound:
        assert isinstance(out.event, TaskScheduledEvent)  # _runnable checked it
        run = activities.start_in_memory(out.target, out.event)
        if run is None:
            break
        runs.append((out.target, out.event, run))
    return runs


def _adoptable(run: asyncio.Future[HistoryEvent]) -> bool:
    return not run.done() or run.exception() is None


def merge_episodes(episodes: Sequence[Episode]) -> Episode:
    """One episode that commits what ``episodes`` (consecutive) decided: their events in order, the last
    one's messages (the earlier ones' activities ran in memory, their outcomes are in the later
    episodes), status and custom status: what the last step-by-step commit would write. When the last
    one continued as new, it alone: its new execution's history replaces the old one's, as it would
    after step-by-step commits, and the old execution's earlier steps sent nothing but activities."""
    if len(episodes) == 1:
        return episodes[0]
    last = episodes[-1]
    discarded = [d for episode in episodes for d in episode.discarded]
    if last.continued_as_new:  # a new execution, written from RowKey 0: the old one's steps are gone
        return replace(last, discarded=discarded)
    return replace(last, history=[event for episode in episodes for event in episode.history], discarded=discarded)
