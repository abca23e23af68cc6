"""What the work-item pipeline records when a work item is done: one-line calls after an orchestration
episode's, an activity's and an entity batch's commit (metrics and, when tracing is on, spans).

The instruments live in :mod:`taskhub.telemetry`; these calls cost nothing while telemetry is off.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta

from taskhub.format.history import HistoryEvent, TaskFailedEvent, TaskScheduledEvent, utcnow
from taskhub.format.types import TraceContext
from taskhub.telemetry import metrics as m
from taskhub.telemetry import spans
from worker.engine.episode import Episode
from worker.telemetry import traces

__all__ = ["activity_done", "entity_batch_done", "episode_done"]


@spans.guarded
def episode_done(
    started: float,
    instance_id: str,
    episode: Episode,
    incoming: Sequence[HistoryEvent],
    past: Sequence[HistoryEvent],
    ended: TraceContext | None = None,
    steps: int = 1,
) -> None:
    """One orchestration checkpoint of ``steps`` episodes (more than one: a group commit, whose earlier
    episodes left the orchestration running); ``started``: ``time.perf_counter()`` at its start."""
    if spans.enabled():
        traces.after_checkpoint(instance_id, episode, incoming, past, ended)
    if m.current() is None:
        return
    status = episode.runtime_status.value
    m.count("taskhub_episodes_total", status=status)
    if steps > 1:
        m.count("taskhub_episodes_total", steps - 1, status="Running")
        m.count("taskhub_episodes_in_memory_total", steps - 1)
    m.observe("taskhub_episode_duration_seconds", time.perf_counter() - started)
    if status == "Failed":
        m.count("taskhub_failures_total", kind="orchestration")


@spans.guarded
def activity_done(event: TaskScheduledEvent, instance_id: str, started: float, result: HistoryEvent) -> None:
    """One activity ran to an outcome (``started``: ``time.perf_counter()`` before it ran)."""
    elapsed = time.perf_counter() - started
    if spans.enabled():
        traces.activity_span(event, instance_id, utcnow() - timedelta(seconds=elapsed), result)
    if m.current() is None:
        return
    name, failed = event.name or "", isinstance(result, TaskFailedEvent)
    m.count("taskhub_activities_total", name=name, result="failed" if failed else "completed")
    m.observe("taskhub_activity_duration_seconds", elapsed, name=name)
    if failed:
        m.count("taskhub_failures_total", kind="activity")


@spans.guarded
def entity_batch_done(started: float, instance_id: str, incoming: Sequence[HistoryEvent]) -> None:
    """One entity batch checkpointed."""
    elapsed = time.perf_counter() - started
    if spans.enabled():
        traces.entity_spans(instance_id, incoming, utcnow() - timedelta(seconds=elapsed))
    if m.current() is None:
        return
    m.count("taskhub_entity_batches_total")
    m.observe("taskhub_entity_batch_duration_seconds", elapsed)
