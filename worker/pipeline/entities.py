"""An entity's work item: the messages of one entity from one control-queue batch -> one checkpoint
(entities.md 1.3, checklist 7).

Entities live on the control queues like orchestrations: the same partitions, sessions and leases; the
pipeline (``worker.pipeline.workitem.ControlQueueWork``) hands every instance id starting with ``@`` to
:meth:`EntityRunner.process`, which

1. loads the entity's history (3 rows + sentinel; none before its first batch: the entity auto-starts) or
   takes it from the cache it keeps for entities on queues this worker owns, and reads the SchedulerState
   from its ExecutionStarted input;
2. files the messages into the state (``scheduler.accept``: sorter, lock holder first, releases, continue,
   scheduled messages, redeliveries dropped) and takes the next batch (``scheduler.take_batch``);
3. runs the operations one at a time, each rolled back alone when it fails (``batch``), then grants or
   forwards a lock request that ended the batch;
4. commits like a continue-as-new (``worker.backends.base.OrchestrationWorkItems.commit``): the outbox first (responses, signals, lock
   messages, orchestration starts, ``continue``), then ``[OrchestratorStarted, ExecutionStarted(Name=id,
   Input=state, new ExecutionId), OrchestratorCompleted]`` from RowKey 0 under the sentinel ETag, the
   Instances row (Input = state, CustomStatus = EntityStatus, Running), then the consumed messages are
   deleted.

The state remembers the request ids of the last batches (``taskhubRecent``) until this worker has seen
their messages deleted, so a crash between the history write and the deletes applies nothing twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from taskhub.config.settings import Settings
from taskhub.format.entities import stamp_datetime, stamp_of
from taskhub.format.entity_state import SchedulerState, entity_status_json
from taskhub.format.history import (
    EventRaisedEvent,
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
    ParentInstance,
    utcnow,
)
from taskhub.format.rows import HistoryLoad
from taskhub.model.entities import EntityId
from worker.backends.base import OrchestrationWorkItems, WorkMessage
from worker.engine.episode import FIRE_AND_FORGET_TAG, Episode, Outbound
from worker.engine.history_index import HistoryIndex
from worker.entities.batch import EntityBatch, StartOrchestration
from worker.entities.scheduler import OutMessage, accept, grant_lock, take_batch
from worker.executors.base import EntityExecutor, EntityWork, LeaveForLater
from worker.pipeline.instance_cache import InstanceCache
from worker.pipeline.workitem import admit, run_or_give_back
from worker.telemetry import record

__all__ = ["EntityRunner"]

log = logging.getLogger(__name__)


def _ticks(span: timedelta) -> int:
    return int(span.total_seconds() * 10_000_000)


class EntityRunner:
    """Processes the entity work items of one worker; shares the worker's history cache."""

    def __init__(
        self,
        items: OrchestrationWorkItems,
        executor: EntityExecutor,
        worker_id: str,
        cache: InstanceCache,
        *,
        settings: Settings,
    ) -> None:
        self.items = items
        self.executor = executor
        self.worker_id = worker_id
        self.settings = settings
        self.cache = cache
        self._deleted: dict[str, int] = {}
        """Per entity, the ``taskhubRecent`` group (by its time, in ticks) of the last batch this process
        committed and whose messages it deleted. Only such a group may be forgotten at once: a group this
        process did not see through (another process died after writing it) is kept until its messages
        can no longer come back (two visibility timeouts)."""

    def forget(self, instance_ids: Sequence[str] | None = None) -> None:
        self.cache.forget(instance_ids)
        if instance_ids is None:
            self._deleted.clear()
            return
        for i in instance_ids:
            self._deleted.pop(i, None)

    async def process(self, instance_id: str, messages: Sequence[WorkMessage]) -> None:
        """As ``OrchestrationRunner.process``: a failed batch goes back at once (with backoff), whole."""
        work = self._process(instance_id, messages)
        await run_or_give_back(
            self.items, instance_id, messages, work, forget=self.forget, kind="entity", worker_id=self.worker_id
        )

    async def _process(self, instance_id: str, messages: Sequence[WorkMessage]) -> None:
        t0 = time.perf_counter()
        threshold = self.settings.storage.poison_message_threshold
        messages = await admit(self.items, instance_id, messages, threshold=threshold, what="entity")
        run = [m for m in messages if isinstance(m.event, EventRaisedEvent)]
        for m in messages:
            if m not in run:
                log.info(
                    "entity.discard instance_id=%s event=%s reason=not an entity message",
                    instance_id,
                    m.event.event_type.name,
                )
        cached = self.cache.get(instance_id)
        loaded = cached.history if cached is not None else await self.items.load_history(instance_id)
        if not run:
            await self.items.discard(messages)
            return
        started = loaded.started
        state = SchedulerState.from_json(started.input if started is not None else None)
        now_dt = utcnow()
        now = stamp_of(now_dt)
        window = _ticks(self.settings.entity_message_reorder_window)
        self._prune_recent(instance_id, state, int(now))

        accepted = accept(
            state,
            [(m.event.name or "", m.event.input) for m in run],  # type: ignore[attr-defined]
            self_id=instance_id,
            now=now,
            window=window,
        )
        for name, why in accepted.discarded:
            log.info("entity.discard instance_id=%s event=%s reason=%s", instance_id, name, why)
        ops, lock, out = take_batch(
            state, max_operations=self.settings.max_entity_operation_batch_size, self_id=instance_id
        )
        batch = EntityBatch(EntityId.parse(instance_id), state, now)
        try:
            await self.executor.run_entity_batch(EntityWork(instance_id, batch, ops))
        except LeaveForLater as later:  # the executor found nobody to run it now: back, not counted
            await self.items.reject(messages)
            log.info("entity.left_for_later instance_id=%s messages=%d reason=%s", instance_id, len(messages), later)
            return
        outbox = [*accepted.outbox, *batch.finish(window=window)]
        if lock is not None:
            outbox.append(grant_lock(state, lock, now=now, window=window))
        outbox.extend(out)

        execution_id = uuid.uuid4().hex
        episode = self._episode(instance_id, execution_id, state, outbox, batch.starts, now_dt)
        result = await self.items.commit(instance_id, loaded=loaded, episode=episode, consumed=messages)
        written = HistoryLoad(result.history, result.etag, result.execution_id)
        self.cache.put(instance_id, written, HistoryIndex(result.history), None)
        self._deleted[instance_id] = int(now)
        record.entity_batch_done(t0, instance_id, [m.event for m in run])
        log.info(
            "entity.checkpoint instance_id=%s execution_id=%s operations=%d failed=%d queued=%d locked_by=%s "
            "outbound=%d worker_id=%s",
            instance_id, execution_id, len(ops), sum(1 for o in batch.outcomes if o.error is not None),
            len(state.queue), state.locked_by, len(episode.outbound), self.worker_id,
        )  # fmt: skip

    def _prune_recent(self, instance_id: str, state: SchedulerState, now: int) -> None:
        """Forget the request ids of the last batch this process committed and deleted the messages of,
        and ids older than two control-queue visibility timeouts (their messages cannot come back)."""
        deleted = self._deleted.get(instance_id)
        keep_for = 2 * _ticks(self.settings.storage.control_queue_visibility_timeout)
        state.recent = [g for g in state.recent if int(g.at) != deleted and now - g.at <= keep_for]

    def _episode(
        self,
        instance_id: str,
        execution_id: str,
        state: SchedulerState,
        outbox: list[OutMessage],
        starts: list[StartOrchestration],
        now: datetime,
    ) -> Episode:
        me = OrchestrationInstance(instance_id, execution_id)
        started = ExecutionStartedEvent(
            orchestration_instance=me, name=instance_id, version="", input=state.to_json(), generation=None,
            timestamp=now,
        )  # fmt: skip
        history: list[HistoryEvent] = [
            OrchestratorStartedEvent(timestamp=now),
            started,
            OrchestratorCompletedEvent(timestamp=now),
        ]
        outbound: list[Outbound] = []
        for o in outbox:
            event = EventRaisedEvent(name=o.name, input=o.input, timestamp=now)
            visible = stamp_datetime(o.visible_at) if o.visible_at is not None else None
            outbound.append(
                Outbound(
                    "orchestrator",
                    OrchestrationInstance(o.target, o.target_execution),
                    event,
                    visible_at=visible,
                )
            )
        for s in starts:
            child = OrchestrationInstance(s.instance_id, uuid.uuid4().hex)
            parent = ParentInstance(
                name=instance_id, orchestration_instance=me, task_schedule_id=-1, version=""
            )
            tags = {FIRE_AND_FORGET_TAG: ""}
            start = ExecutionStartedEvent(
                orchestration_instance=child, parent_instance=parent, name=s.name, input=s.input,
                version=self.settings.default_version or "",  # as Durable Functions >= 3.8.1 does
                tags=tags, generation=0, timestamp=now,
            )  # fmt: skip
            outbound.append(Outbound("orchestrator", child, start, tags=tags))
        return Episode(
            instance_id=instance_id,
            execution_id=execution_id,
            started=started,
            history=history,
            outbound=outbound,
            runtime_status=OrchestrationStatus.RUNNING,
            custom_status=entity_status_json(state),
            continued_as_new=True,
            new_execution_id=execution_id,
        )
