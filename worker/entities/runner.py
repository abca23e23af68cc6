"""An entity's work item: the messages of one entity from one control-queue batch -> one checkpoint
(entities.md 1.3, checklist 7).

Entities live on the control queues like orchestrations: the same partitions, sessions and leases; the
orchestration runner hands every instance id starting with ``@`` to :meth:`EntityRunner.process`, which

1. loads the entity's history (3 rows + sentinel; none before its first batch: the entity auto-starts) or
   takes it from the cache it keeps for entities on queues this worker owns, and reads the SchedulerState
   from its ExecutionStarted input;
2. files the messages into the state (``scheduler.accept``: sorter, lock holder first, releases, continue,
   scheduled messages, redeliveries dropped) and takes the next batch (``scheduler.take_batch``);
3. runs the operations one at a time, each rolled back alone when it fails (``batch``), then grants or
   forwards a lock request that ended the batch;
4. checkpoints like a continue-as-new (``worker.checkpoint``): the outbox first (responses, signals, lock
   messages, orchestration starts, ``continue``), then ``[OrchestratorStarted, ExecutionStarted(Name=id,
   Input=state, new ExecutionId), OrchestratorCompleted]`` from RowKey 0 under the sentinel ETag, the
   Instances row (Input = state, CustomStatus = EntityStatus, Running), then the consumed messages are
   deleted.

The state remembers the request ids of the last batches (``taskhubRecent``) until this worker has seen
their messages deleted, so a crash between the history write and the deletes applies nothing twice.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from taskhub.format.entities import parse_entity_instance_id, stamp_datetime, stamp_of
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
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.queues import Inbound
from taskhub.hub.tracking import HistoryLoad
from taskhub.model.app import App
from taskhub.model.entities import EntityId, run_operation
from worker.checkpoint import checkpoint, process_or_give_back
from worker.entities.batch import EntityBatch, StartOrchestration
from worker.entities.scheduler import OutMessage, accept, grant_lock, take_batch
from worker.episode import FIRE_AND_FORGET_TAG, Episode, Outbound

__all__ = ["EntityRunner"]

log = logging.getLogger(__name__)


def _window_ticks(hub: TaskHub) -> int:
    return int(hub.settings.entity_message_reorder_window.total_seconds() * 10_000_000)


class EntityRunner:
    """Processes entity work items of one worker; keeps a history cache for the entities it owns."""

    def __init__(self, hub: TaskHub, app: App, worker_id: str) -> None:
        self.hub = hub
        self.app = app
        self.worker_id = worker_id
        self._cache: dict[str, HistoryLoad] = {}
        self._deleted: dict[str, int] = {}
        """Per entity, the ``taskhubRecent`` group (by its time, in ticks) of the last batch this process
        committed and whose messages it deleted. Only such a group may be forgotten at once: a group this
        process did not see through (another process died after writing it) is kept until its messages
        can no longer come back (two visibility timeouts)."""

    def forget(self, instance_ids: Sequence[str] | None = None) -> None:
        if instance_ids is None:
            self._cache.clear()
            self._deleted.clear()
            return
        for i in instance_ids:
            self._cache.pop(i, None)
            self._deleted.pop(i, None)

    async def process(self, instance_id: str, messages: Sequence[Inbound]) -> None:
        """As ``OrchestrationRunner.process``: a failed batch goes back at once (with backoff), whole."""
        await process_or_give_back(
            self.hub,
            instance_id,
            messages,
            self._process(instance_id, messages),
            forget=self.forget,
            kind="entity",
            worker_id=self.worker_id,
        )

    async def _process(self, instance_id: str, messages: Sequence[Inbound]) -> None:
        hub = self.hub
        threshold = hub.settings.storage.poison_message_threshold
        for m in [m for m in messages if m.raw.dequeue_count > threshold]:
            reason = (
                f"{m.event.event_type.name} for entity {instance_id!r} was dequeued {m.raw.dequeue_count} times "
                f"without being processed (poisonMessageThreshold is {threshold})"
            )
            await hub.poison.move(m, reason)
        messages = sorted(
            (m for m in messages if m.raw.dequeue_count <= threshold),
            key=lambda m: (m.raw.inserted_on or utcnow(), m.data.sequence_number if m.data else 0),
        )
        run = [m for m in messages if isinstance(m.event, EventRaisedEvent)]
        for m in messages:
            if m not in run:
                log.info(
                    "entity.discard instance_id=%s event=%s reason=not an entity message",
                    instance_id,
                    m.event.event_type.name,
                )
        loaded = self._cache.get(instance_id) or await hub.tracking.load_history(instance_id)
        if not run:
            for m in messages:
                await hub.queues.delete(m)
            return
        started = loaded.started
        state = SchedulerState.from_json(started.input if started is not None else None)
        now_dt = utcnow()
        now = stamp_of(now_dt)
        window = _window_ticks(hub)
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
            state, max_operations=hub.settings.max_entity_operation_batch_size, self_id=instance_id
        )
        batch = EntityBatch(EntityId.parse(instance_id), state, now)
        await self._run(instance_id, batch, ops)
        outbox = [*accepted.outbox, *batch.finish(window=window)]
        if lock is not None:
            outbox.append(grant_lock(state, lock, now=now, window=window))
        outbox.extend(out)

        execution_id = uuid.uuid4().hex
        episode = self._episode(instance_id, execution_id, state, outbox, batch.starts, now_dt)
        result = await checkpoint(
            hub, instance_id=instance_id, loaded=loaded, episode=episode, consumed=messages
        )
        self._cache[instance_id] = HistoryLoad(result.history, result.etag, result.execution_id)
        self._deleted[instance_id] = int(now)
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
        keep_for = 2 * int(
            self.hub.settings.storage.control_queue_visibility_timeout.total_seconds() * 10_000_000
        )
        state.recent = [g for g in state.recent if int(g.at) != deleted and now - g.at <= keep_for]

    async def _run(self, instance_id: str, batch: EntityBatch, ops: list[Any]) -> None:
        name, _ = parse_entity_instance_id(instance_id)
        fn = self.app.get_entity(name)
        for request in ops:
            try:
                ctx, value = batch.begin(request)
            except ValueError as exc:
                batch.fail(None, ValueError(f"input of operation {request.op!r} is not JSON: {exc}"), request)
                continue
            if fn is None:
                registered = ", ".join(repr(n) for n in self.app.entity_names) or "none"
                batch.fail(
                    ctx,
                    ValueError(
                        f"entity {name!r} is not registered with this App; registered entities: {registered}"
                    ),
                )
                continue
            try:
                result = run_operation(fn, ctx, value)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:
                log.info(
                    "entity.operation_failed instance_id=%s operation=%s error=%s",
                    instance_id,
                    request.op,
                    exc,
                )
                batch.fail(ctx, exc)
                continue
            batch.succeed(ctx, result)

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
                version=self.hub.settings.default_version or "",  # as Durable Functions >= 3.8.1 does
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
