"""An orchestration work item: the messages of one instance from one control-queue batch, through the
pipeline (runtime.md 7.3, 7.4):

1. **load**: the history, from the backend or from the one cache this worker keeps for the instances on
   the queues it owns (``worker.pipeline.instance_cache``), and the Instances row beside it when the
   batch starts an execution;
2. **admit**: the version check (``worker.pipeline.versions``: reject, fail or run), then poison what
   was taken too often (``worker.pipeline.workitem``);
3. **triage**: run / discard / defer (``worker.pipeline.triage``);
4. **decide**: the episode, by the executor (``worker.executors``) and the engine (``worker.engine.episode``),
   carried on in memory over the activities this process runs at once (``worker.pipeline.group_commit``);
5. **commit**: through the backend, in order (``worker.backends.base.OrchestrationWorkItems.commit``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from taskhub.config.settings import Settings
from taskhub.format.history import (
    ExecutionStartedEvent,
    ExecutionTerminatedEvent,
    OrchestrationStatus,
    utcnow,
)
from taskhub.format.rows import HistoryLoad, InstanceRow
from taskhub.model.versioning import Admission
from taskhub.model.versioning import admit as admit_version
from worker.backends.base import CommitConflict, Committed, OrchestrationWorkItems, WorkMessage
from worker.engine.episode import Episode, EpisodeBuilder, decide_episode
from worker.engine.history_index import HistoryIndex
from worker.engine.version_failure import failed_episode
from worker.executors.base import LeaveForLater, OrchestrationExecutor
from worker.pipeline.episode_memo import Decision, EpisodeMemo
from worker.pipeline.group_commit import Group, GroupCommitConfig, InMemoryActivities, run_group
from worker.pipeline.instance_cache import InstanceCache
from worker.pipeline.triage import Triage, triage
from worker.pipeline.versions import work_item_version
from worker.pipeline.workitem import RetryTogether, admit, run_or_give_back
from worker.telemetry import record, traces

__all__ = ["OrchestrationRunner"]

log = logging.getLogger(__name__)


ADOPT_TTL_S = 60.0
"""How long a run started in memory waits for its committed work item to be taken here (then the work
item, if it comes at all, runs the activity again)."""


@dataclass(frozen=True)
class _FailedGroup:
    """A group whose commit failed: what it tried to commit, and the ids of the messages it consumed."""

    episode: Episode
    messages: tuple[str, ...]
    steps: int


@dataclass
class _Loaded:
    history: HistoryLoad
    index: HistoryIndex
    session: object | None
    row: InstanceRow | None
    row_read: bool


class OrchestrationRunner:
    """Processes the orchestration work items of one worker."""

    def __init__(
        self,
        items: OrchestrationWorkItems,
        executor: OrchestrationExecutor,
        worker_id: str,
        cache: InstanceCache,
        *,
        settings: Settings,
    ) -> None:
        self.items = items
        self.executor = executor
        self.worker_id = worker_id
        self.cache = cache
        self.settings = settings
        self.memo = EpisodeMemo()
        """A retried episode decides what its failed attempt decided (``worker.pipeline.episode_memo``)."""
        self.group_commit = GroupCommitConfig.from_env()
        self.in_memory: InMemoryActivities | None = None
        """Runs activities for group commits (the worker's ``ActivityRunner``); None: no group commit."""
        self.groups = 0
        """Commits that held more than one step (``worker.pipeline.group_commit``)."""
        self.grouped_steps = 0
        """The steps those commits held."""
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
        self.cache.forget(instance_ids)
        self.items.forget(instance_ids)

    @property
    def sessions_in_memory(self) -> int:
        return len(self.cache)

    async def process(self, instance_id: str, messages: Sequence[WorkMessage]) -> None:
        work = self._process(instance_id, messages)
        await run_or_give_back(
            self.items, instance_id, messages, work, forget=self.forget, kind="orchestration", worker_id=self.worker_id
        )

    async def _process(self, instance_id: str, messages: Sequence[WorkMessage]) -> None:
        started = time.perf_counter()
        loaded = await self._load(instance_id, messages)
        admission = self._admission(loaded, messages)
        if admission.verdict == "reject":  # before the poison check: rejections do not count toward it
            await self._reject(instance_id, messages, admission.reason)
            return
        threshold = self.settings.storage.poison_message_threshold
        admitted = await admit(self.items, instance_id, messages, threshold=threshold, what="instance")
        if not admitted:
            return
        t = self._triage(instance_id, loaded, admitted)
        ids = [m.identity for m in t.run]
        order = self.memo.arrange(instance_id, etag=loaded.history.etag, events=len(loaded.history.events), messages=ids)
        t.run = [t.run[i] for i in order]  # a failed attempt's messages first, in its order
        if await self._wait_for_failed_attempt(instance_id, loaded, t):
            return
        for m, _why in t.defer:
            await self.items.defer(m)
        if not t.run:
            await self._nothing_to_run(instance_id, loaded, t)
            return
        if t.restart:  # a new generation of a finished instance: its history is replaced
            history = HistoryLoad(events=[], etag=loaded.history.etag, execution_id=None)
            loaded = _Loaded(history, HistoryIndex(), None, loaded.row, loaded.row_read)
        self.cache.pop(instance_id)  # the session moves on below; a failed commit must not leave it
        decision = self._begin(instance_id, loaded, t)
        traces.before_episode([m.event for m in t.run], decision.now)
        try:
            group = await self._decide_group(instance_id, loaded, t, admission, decision)
        except LeaveForLater as later:  # a remote executor found nobody to run it: back, not counted
            self.memo.done(instance_id)  # nothing was decided
            await self._reject(instance_id, [*t.run, *(m for m, _ in t.discard)], str(later))
            return
        await self._commit(instance_id, loaded, t, decision, group, started)

    async def _commit(
        self, instance_id: str, loaded: _Loaded, t: Triage, decision: Decision, group: Group, started: float
    ) -> None:
        episode = group.episode
        consumed = [*t.run, *(m for m, _ in t.discard)]
        if isinstance(decision.group, _FailedGroup):  # its retry: the same messages, the others after it
            retried = set(decision.group.messages)
            later = [m for m in t.run if m.identity not in retried]
            consumed = [m for m in consumed if not any(m is x for x in later)]
            await asyncio.gather(*(self.items.defer(m, delay=0, counted=False) for m in later))
        ended = traces.stamp_outbound(episode)
        if self.in_memory is not None:
            for instance, event, run in group.running:  # before the commit sends their work items
                self.in_memory.adopt(instance, event, run, ADOPT_TTL_S)
        try:
            committed = await self.items.commit(
                instance_id,
                loaded=loaded.history,
                episode=episode,
                consumed=consumed,
                episodes_before=loaded.index.episodes,
                coalesce=True,
            )
        except CommitConflict:
            raise
        except Exception as err:
            if episode.outbound or group.steps > 1:  # its messages may be out: the retry must decide the same
                failed = _FailedGroup(episode, tuple(m.identity for m in t.run), group.steps) if group.steps > 1 else None
                self.memo.failed(instance_id, decision, failed)
                raise RetryTogether(str(err)) from err
            raise
        self.memo.done(instance_id)
        if group.steps > 1:
            self.groups += 1
            self.grouped_steps += group.steps
        self._remember(instance_id, loaded.index, episode, committed)
        incoming = [*(m.event for m in t.run), *group.taken_in]
        record.episode_done(started, instance_id, episode, incoming, loaded.history.events, ended, group.steps)
        log.info(
            "orchestration.checkpoint instance_id=%s execution_id=%s status=%s first_row=%d events=%d outbound=%d "
            "steps=%d worker_id=%s",
            instance_id, committed.execution_id, episode.runtime_status.value,
            len(committed.history) - len(episode.history), len(episode.history), len(episode.outbound),
            group.steps, self.worker_id,
        )  # fmt: skip

    async def _load(self, instance_id: str, messages: Sequence[WorkMessage]) -> _Loaded:
        """The history (cached or read) and, when the batch starts an execution, the Instances row,
        read beside it (the start dedupe of runtime.md 7.3 compares with it)."""
        starts = [m.event for m in messages if isinstance(m.event, ExecutionStartedEvent)]
        row_read = asyncio.ensure_future(self.items.read_instance(instance_id)) if starts else None
        try:
            cached = self.cache.get(instance_id)
            if cached is None:
                history = await self.items.load_history(instance_id)
                loaded = _Loaded(history, HistoryIndex(history.events), None, None, False)
            else:
                loaded = _Loaded(cached.history, cached.index, cached.session, None, False)
        except BaseException:
            if row_read is not None:
                row_read.cancel()
            raise
        if row_read is not None:
            loaded.row, loaded.row_read = await row_read, True
            unparented = any(s.parent_instance is None for s in starts)
            if loaded.row is None and loaded.history.started is None and unparented:
                loaded.row = await self._row_written_soon(instance_id)
        return loaded

    def _triage(self, instance_id: str, loaded: _Loaded, messages: Sequence[WorkMessage]) -> Triage:
        row = loaded.row
        t = triage(
            loaded.history,
            messages,
            instance_row_execution_id=row.execution_id if row is not None else None,
            instance_row_exists=row is not None or not loaded.row_read,
            instance_row_status=row.runtime_status if row is not None else None,
            index=loaded.index,
        )
        for kind, items in (("defer", t.defer), ("discard", t.discard)):
            for m, why in items:
                log.info(
                    "orchestration.%s instance_id=%s event=%s reason=%s",
                    kind, instance_id, m.event.event_type.name, why,
                )  # fmt: skip
        return t

    async def _nothing_to_run(self, instance_id: str, loaded: _Loaded, t: Triage) -> None:
        """Nothing to run: mark an instance terminated before it started, repair the Instances row of a
        finished one (a commit may have died before it), and delete what was discarded."""
        if loaded.history.started is None:
            terminate = next((m.event for m, _ in t.discard if isinstance(m.event, ExecutionTerminatedEvent)), None)
            if terminate is not None and await self.items.terminate_unstarted(instance_id, terminate):
                log.info("orchestration.terminated_before_start instance_id=%s", instance_id)
        if loaded.index.terminal:
            await self.items.repair_instance(instance_id, loaded.history)
        await self.items.discard([m for m, _ in t.discard])

    def _admission(self, loaded: _Loaded, messages: Sequence[WorkMessage]) -> Admission:
        version = work_item_version(loaded.history.started, loaded.index.terminal, messages)
        return admit_version(version, self.settings.versioning) if version is not None else Admission("run")

    async def _reject(self, instance_id: str, messages: Sequence[WorkMessage], reason: str) -> None:
        """Leave the work item for another worker (``worker.pipeline.versions``)."""
        await self.items.reject(messages)
        log.info(
            "orchestration.version_rejected instance_id=%s messages=%d dequeue_count=%d reason=%s",
            instance_id,
            len(messages),
            max((m.dequeue_count for m in messages), default=0),
            reason,
        )

    def _begin(self, instance_id: str, loaded: _Loaded, t: Triage) -> Decision:
        """The episode's time and ids: new ones, or those of its failed attempt (``episode_memo``)."""
        decision, repeated = self.memo.begin(
            instance_id,
            etag=loaded.history.etag,
            events=len(loaded.history.events),
            messages=tuple(m.identity for m in t.run),
            now=utcnow,
        )
        if repeated:
            log.info(
                "orchestration.repeat_episode instance_id=%s (its last checkpoint failed after sending: same "
                "time and ids, so receivers drop the copies)",
                instance_id,
            )
        return decision

    async def _wait_for_failed_attempt(self, instance_id: str, loaded: _Loaded, t: Triage) -> bool:
        """While the messages of an attempt whose checkpoint failed are away, the others wait (1 s at a
        time): see ``worker.pipeline.episode_memo``. True when this batch was put back."""
        history = loaded.history
        messages = tuple(m.identity for m in t.run)
        if not self.memo.waiting_for(instance_id, etag=history.etag, events=len(history.events), messages=messages):
            return False
        batch = [*t.run, *(m for m, _ in t.discard), *(m for m, _ in t.defer)]
        log.info(
            "orchestration.wait_for_retry instance_id=%s messages=%d (its last checkpoint failed; they wait for "
            "its messages to come back)",
            instance_id,
            len(batch),
        )
        # not counted toward poison: a long wait for the failed attempt's messages is not these messages' fault
        await asyncio.gather(*(self.items.defer(m, delay=1, counted=False) for m in batch))
        return True

    async def _decide_group(
        self, instance_id: str, loaded: _Loaded, t: Triage, admission: Admission, decision: Decision
    ) -> Group:
        """The episode, carried on in memory as a group commit when it may be (``group_commit``); a
        failed group's retry gets the episode that group tried to commit."""
        if isinstance(decision.group, _FailedGroup):
            log.info("orchestration.repeat_group instance_id=%s (commits its failed group again)", instance_id)
            return Group(decision.group.episode, decision.group.steps)
        episode = await self._decide(instance_id, loaded, t, admission, decision)
        if self.in_memory is None or not self._may_group(t, admission, decision):
            return Group(episode, 1)
        return await run_group(
            episode,
            past=loaded.history.events,
            decide=self._decide_next,
            activities=self.in_memory,
            config=self.group_commit,
            sessions=self.cache.sessions,
        )

    def _may_group(self, t: Triage, admission: Admission, decision: Decision) -> bool:
        """Group commits are for first attempts (see ``group_commit``)."""
        if not self.group_commit.enabled or admission.verdict != "run" or decision.sent:
            return False
        return all(m.dequeue_count <= 1 for m in t.run)

    async def _decide_next(self, builder: EpisodeBuilder, session: object | None) -> Episode:
        if session is not None:
            self.cache.resumed += 1
        return await decide_episode(self.executor.decide, builder, session)

    async def _decide(
        self, instance_id: str, loaded: _Loaded, t: Triage, admission: Admission, decision: Decision
    ) -> Episode:
        incoming = [m.event for m in t.run]
        if admission.verdict == "fail":
            log.warning("orchestration.version_failed instance_id=%s reason=%s", instance_id, admission.reason)
            return failed_episode(instance_id, loaded.history.events, incoming, admission.reason, decision.now)
        builder = EpisodeBuilder(
            instance_id=instance_id,
            past_events=loaded.history.events,
            incoming_events=incoming,
            now=decision.now,
            new_guid=decision.new_guid,
        )
        if loaded.session is not None:
            self.cache.resumed += 1
        return await decide_episode(self.executor.decide, builder, loaded.session)

    def _remember(self, instance_id: str, index: HistoryIndex, episode: Episode, committed: Committed) -> None:
        """Keep the committed history (and the session) for the next episode, while the instance runs."""
        status = episode.runtime_status
        if status.is_terminal and status is not OrchestrationStatus.CONTINUED_AS_NEW:
            self.items.forget([instance_id])
            return
        if len(committed.history) == len(episode.history):  # a new execution: its history is the episode's
            index = HistoryIndex(committed.history)
        else:
            index.extend(episode.history)
        written = HistoryLoad(committed.history, committed.etag, committed.execution_id)
        self.cache.put(instance_id, written, index, episode.session)

    async def _row_written_soon(self, instance_id: str) -> InstanceRow | None:
        """A client sends the start message first and writes the Instances row right after: a start
        that arrives in between would be deferred (hidden ~2 s). Look again a few times within ~0.4 s."""
        for delay in (0.05, 0.1, 0.25):
            await asyncio.sleep(delay)
            row = await self.items.read_instance(instance_id)
            if row is not None:
                return row
        return None
