"""One work item: the messages of one instance from one control-queue batch (runtime.md 7.3, 7.4).

:meth:`OrchestrationRunner.process` loads the history (or takes it from the cache this worker keeps for
instances on queues it owns), sorts each message into

* **run**: events the orchestrator should see in this episode;
* **discard**: duplicates and messages for executions or instances that no longer exist (deleted);
* **defer**: messages that arrived before what they answer was committed (abandoned with backoff, so
  they come back after the sender's checkpoint lands);

runs the episode (pure, ``worker.episode``) and commits it (``worker.checkpoint``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from taskhub.format.entities import is_entity_instance
from taskhub.format.history import (
    ExecutionStartedEvent,
    ExecutionTerminatedEvent,
    OrchestrationStatus,
    utcnow,
)
from taskhub.format.rows import InstanceRow
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.queues import Inbound
from taskhub.hub.tracking import HistoryLoad
from taskhub.model.app import App
from taskhub.model.versioning import Admission, admit
from worker.checkpoint import checkpoint, process_or_give_back, repair_instance_row
from worker.entities.runner import EntityRunner
from worker.episode import run_episode
from worker.episode_memo import EpisodeMemo
from worker.history_index import COMPLETIONS, HistoryIndex, completion_id
from worker.instance_cache import InstanceCache
from worker.instance_rows import InstanceRows
from worker.replay import Replay
from worker.versions import failed_episode, reject, work_item_version

__all__ = ["OrchestrationRunner", "Triage", "triage"]

log = logging.getLogger(__name__)

ZOMBIE_DEQUEUE_COUNT = 5
"""A completion for an instance with no history, seen more often than this, is dropped (DTFx 7.4)."""
START_DEDUPE_DEQUEUE_COUNT = 10
"""A start message whose Instances row never appears is dropped after this many tries (DTFx 7.3)."""


@dataclass
class Triage:
    run: list[Inbound] = field(default_factory=list)
    discard: list[tuple[Inbound, str]] = field(default_factory=list)
    defer: list[tuple[Inbound, str]] = field(default_factory=list)
    restart: bool = False
    """True when the batch starts a new generation of a finished instance (history is replaced)."""


def triage(
    history: HistoryLoad,
    messages: Sequence[Inbound],
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
    ordered = sorted(
        messages, key=lambda m: (m.raw.inserted_on or utcnow(), m.data.sequence_number if m.data else 0)
    )
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
                if m.raw.dequeue_count >= START_DEDUPE_DEQUEUE_COUNT:
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
                if m.raw.dequeue_count > ZOMBIE_DEQUEUE_COUNT:
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


class OrchestrationRunner:
    """Processes work items of one worker; keeps a history cache for the instances it owns."""

    def __init__(self, hub: TaskHub, app: App, worker_id: str) -> None:
        self.hub = hub
        self.app = app
        self.worker_id = worker_id
        settings = hub.settings
        self._cache = InstanceCache(
            sessions=settings.extended_sessions_enabled is not False,
            idle_timeout_s=settings.extended_session_idle_timeout.total_seconds(),
        )
        self.rows = InstanceRows(hub)
        """Instances-row merges; quiet ones wait up to 1 s and are coalesced (``worker.instance_rows``)."""
        self.entities = EntityRunner(hub, app, worker_id)
        """Instance ids starting with '@' are entities (entities.md 1.1): they go to this runner."""
        self.memo = EpisodeMemo()
        """A retried episode decides what its failed attempt decided (``worker.episode_memo``)."""
        v = settings.versioning
        log.info(
            "orchestration.versioning worker_id=%s version=%s match=%s failure=%s",
            worker_id,
            v.version or "(none)",
            v.match.value,
            v.failure.value,
        )

    def forget(self, instance_ids: Sequence[str] | None = None) -> None:
        """Drop cached histories (all of them, or some) - after a lease is lost, or on error."""
        self.entities.forget(instance_ids)
        self._cache.forget(instance_ids)
        self.rows.forget(instance_ids)

    async def close(self) -> None:
        """Write the Instances-row merges still waiting (a worker that stops)."""
        await self.rows.close()

    async def process(self, instance_id: str, messages: Sequence[Inbound]) -> None:
        if is_entity_instance(instance_id):
            await self.entities.process(instance_id, messages)
            return
        await process_or_give_back(
            self.hub,
            instance_id,
            messages,
            self._process(instance_id, messages),
            forget=self.forget,
            kind="orchestration",
            worker_id=self.worker_id,
        )

    async def _process(self, instance_id: str, messages: Sequence[Inbound]) -> None:
        hub = self.hub
        starts = [m.event for m in messages if isinstance(m.event, ExecutionStartedEvent)]
        # the start dedupe of runtime.md 7.3 compares with the Instances row: read it beside the history
        row_read = asyncio.ensure_future(hub.tracking.get_instance(instance_id)) if starts else None
        cached = self._cache.get(instance_id)
        session: Replay | None = None
        try:
            if cached is None:
                loaded = await hub.tracking.load_history(instance_id)
                index = HistoryIndex(loaded.events)
            else:
                loaded, index, session = cached.history, cached.index, cached.replay
        except BaseException:
            if row_read is not None:
                row_read.cancel()
            raise
        row_exists, row_exec, row_status = True, None, None
        if row_read is not None:
            row = await row_read
            if row is None and loaded.started is None and any(s.parent_instance is None for s in starts):
                row = await self._row_written_soon(instance_id)
            row_exists = row is not None
            row_exec = row.execution_id if row is not None else None
            row_status = row.runtime_status if row is not None else None
        version = work_item_version(loaded.started, index.terminal, messages)
        admission = admit(version, hub.settings.versioning) if version is not None else Admission("run")
        if admission.verdict == "reject":  # before the poison check: rejections do not count toward it
            await reject(hub, instance_id, messages, admission.reason)
            return
        threshold = hub.settings.storage.poison_message_threshold
        for m in [m for m in messages if m.raw.dequeue_count > threshold]:
            await hub.poison.move(
                m,
                f"{m.event.event_type.name} for instance {instance_id!r} was dequeued {m.raw.dequeue_count} times "
                "without being processed (poisonMessageThreshold is " + str(threshold) + ")",
            )
        messages = [m for m in messages if m.raw.dequeue_count <= threshold]
        if not messages:
            return
        t = triage(
            loaded,
            messages,
            instance_row_execution_id=row_exec,
            instance_row_exists=row_exists,
            instance_row_status=row_status,
            index=index,
        )
        if await self._wait_for_failed_attempt(instance_id, loaded, t):
            return
        for m, why in t.defer:
            log.info(
                "orchestration.defer instance_id=%s event=%s reason=%s",
                instance_id,
                m.event.event_type.name,
                why,
            )
            await hub.queues.abandon(m)
        for m, why in t.discard:
            log.info(
                "orchestration.discard instance_id=%s event=%s reason=%s",
                instance_id,
                m.event.event_type.name,
                why,
            )
        if not t.run:
            await self._terminate_unstarted(instance_id, loaded, t)
            if index.terminal:  # a checkpoint may have died before the Instances row
                await repair_instance_row(hub, instance_id, loaded)
            for m, _ in t.discard:
                await hub.queues.delete(m)
            return
        past = [] if t.restart else loaded.events
        if t.restart:
            loaded, session = HistoryLoad(events=[], etag=loaded.etag, execution_id=None), None
            index = HistoryIndex()
        self._cache.pop(instance_id)  # the session moves on below; a failed checkpoint must not leave it
        decision, repeated = self.memo.begin(
            instance_id,
            etag=loaded.etag,
            events=len(loaded.events),
            messages=tuple(m.raw.id for m in t.run),
            now=utcnow,
        )
        if repeated:
            log.info(
                "orchestration.repeat_episode instance_id=%s (its last checkpoint failed after sending: same "
                "time and ids, so receivers drop the copies)",
                instance_id,
            )
        if admission.verdict == "fail":
            log.warning(
                "orchestration.version_failed instance_id=%s reason=%s", instance_id, admission.reason
            )
            episode = failed_episode(instance_id, past, [m.event for m in t.run], admission.reason, decision.now)
        else:
            episode = run_episode(
                self.app,
                instance_id=instance_id,
                past_events=past,
                incoming_events=[m.event for m in t.run],
                now=decision.now,
                new_guid=decision.new_guid,
                session=session,
            )
        if session is not None:
            self._cache.resumed += 1
        try:
            result = await checkpoint(
                hub,
                instance_id=instance_id,
                loaded=loaded,
                episode=episode,
                consumed=[*t.run, *(m for m, _ in t.discard)],
                episodes_before=index.episodes,
                rows=self.rows,
            )
        except Exception:
            if episode.outbound:
                self.memo.failed(instance_id, decision)
            raise
        self.memo.done(instance_id)
        if not (
            episode.runtime_status.is_terminal
            and episode.runtime_status is not OrchestrationStatus.CONTINUED_AS_NEW
        ):
            if len(result.history) == len(episode.history):  # a new execution: its history is the episode's
                index = HistoryIndex(result.history)
            else:
                index.extend(episode.history)
            written = HistoryLoad(result.history, result.etag, result.execution_id)
            self._cache.put(instance_id, written, index, episode.replay)
        else:
            self.rows.forget([instance_id])
        log.info(
            "orchestration.checkpoint instance_id=%s execution_id=%s status=%s first_row=%d events=%d outbound=%d "
            "worker_id=%s",
            instance_id,
            result.execution_id,
            episode.runtime_status.value,
            len(result.history) - len(episode.history),
            len(episode.history),
            len(episode.outbound),
            self.worker_id,
        )

    async def _wait_for_failed_attempt(self, instance_id: str, loaded: HistoryLoad, t: Triage) -> bool:
        """While the messages of an attempt whose checkpoint failed are away, the others wait (1 s at a
        time): see ``worker.episode_memo``. True when this batch was put back."""
        waiting = self.memo.waiting_for(
            instance_id, etag=loaded.etag, events=len(loaded.events), messages=tuple(m.raw.id for m in t.run)
        )
        if not waiting:
            return False
        batch = [*t.run, *(m for m, _ in t.discard), *(m for m, _ in t.defer)]
        log.info(
            "orchestration.wait_for_retry instance_id=%s messages=%d (its last checkpoint failed; they wait for "
            "its messages to come back)",
            instance_id,
            len(batch),
        )
        await asyncio.gather(*(self.hub.queues.abandon(m, delay=1) for m in batch))
        return True

    async def _row_written_soon(self, instance_id: str) -> InstanceRow | None:
        """A client sends the start message first and writes the Instances row right after: a start
        that arrives in between would be deferred (hidden ~2 s). Look again a few times within ~0.4 s."""
        for delay in (0.05, 0.1, 0.25):
            await asyncio.sleep(delay)
            row = await self.hub.tracking.get_instance(instance_id)
            if row is not None:
                return row
        return None

    async def _terminate_unstarted(self, instance_id: str, loaded: HistoryLoad, t: Triage) -> None:
        """Terminating an instance that never started: mark its Instances row (runtime.md 7.4)."""
        if loaded.started is not None:
            return
        for m, _ in t.discard:
            ev = m.event
            if isinstance(ev, ExecutionTerminatedEvent):
                row = await self.hub.tracking.get_instance(instance_id)
                if row is None or row.runtime_status is not OrchestrationStatus.PENDING:
                    return
                now = utcnow()
                await self.hub.tracking.merge_instance(
                    instance_id,
                    {
                        "RuntimeStatus": OrchestrationStatus.TERMINATED.value,
                        "LastUpdatedTime": ev.timestamp,
                        "CompletedTime": now,
                        "Output": ev.input or "",
                    },
                )
                log.info("orchestration.terminated_before_start instance_id=%s", instance_id)
                return
