"""The one adapter between the engine and connected SDK workers: a "remote executor".

An orchestration episode whose orchestrator the local App does not have goes to a connected worker as an
``OrchestratorRequest`` (past and new events as the protocol's ``HistoryEvent``s); its
``CompleteOrchestratorTask`` answer becomes this engine's ``Episode`` (``worker.sidecar.decisions``), which
the pipeline commits exactly as an in-process episode (``worker.executors.base.RemoteOrchestrations``).
An activity or entity the App does not have goes, behind the executor seam (``Executor.run_activity``,
``run_entity_batch``), as an ``ActivityRequest`` / ``EntityBatchRequest``; ``WithRemote`` sends there
what the App lacks and runs the rest through the App's own executor. When no worker takes the item
(``NoWorker``) or its worker disconnects (``WorkerGone``), ``LeaveForLater`` makes the pipeline give the
messages back to their queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from taskhub.format.entities import RequestMessage, stamp_of
from taskhub.format.history import (
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationStatus,
    TaskCompletedEvent,
    TaskFailedEvent,
)
from taskhub.model.app import App
from worker.engine.decisions import Decisions, OrchestrationWork
from worker.engine.episode import MAX_CONTINUE_AS_NEW_PER_EPISODE, Episode, Outbound
from worker.entities.batch import Outcome, StartOrchestration
from worker.executors.base import ActivityOutcome, ActivityWork, EntityWork, Executor
from worker.host import Worker
from worker.sidecar.decisions import admit, episode_of, next_execution, round_of
from worker.sidecar.history import trace_to_proto
from worker.sidecar.proto import failure_from_proto, moment, pb, string_value, text
from worker.sidecar.shown import ShownHistories
from worker.sidecar.stream import Dispatcher

__all__ = ["RemoteExecutor", "WithRemote", "RemoteOperationError", "RemoteBatchError"]


class RemoteExecutor:
    """Runs what ``app`` does not have on the workers connected to ``dispatcher``."""

    def __init__(self, dispatcher: Dispatcher, app: App) -> None:
        self.dispatcher = dispatcher
        self.app = app
        self.shown = ShownHistories()
        """The translated histories of the instances in progress, reused from episode to episode."""

    def attach(self, worker: Worker) -> None:
        """Plug into a worker's pipeline: its activities and entity batches through ``WithRemote`` (the
        executor seam), its orchestration episodes through ``OrchestrationRunner.remote``."""
        both = WithRemote(worker.executor, self)
        worker.activities.executor = both
        worker.entities.executor = both
        worker.orchestrations.remote = self

    # -- orchestrations ---------------------------------------------------------------------------

    def handles(self, past: Sequence[HistoryEvent], incoming: Sequence[HistoryEvent]) -> bool:
        events = [*past, *incoming]
        started = next((e for e in events if isinstance(e, ExecutionStartedEvent)), None)
        return started is not None and self.app.get_orchestrator(started.name or "") is None

    async def run_episode(
        self, instance_id: str, past: Sequence[HistoryEvent], incoming: Sequence[HistoryEvent], now: datetime
    ) -> Episode:
        new, discarded = admit(past, incoming, now)
        before: list[HistoryEvent] = list(past)
        outbound: list[Outbound] = []
        custom: str | None = None
        continued = False
        for _ in range(MAX_CONTINUE_AS_NEW_PER_EPISODE):
            # once: an event's view depends only on the events before it
            shown = self.shown.to_sdk(instance_id, [*before, *new])
            request = pb.OrchestratorRequest(
                instanceId=instance_id,
                executionId=string_value(_execution_id(before, new)),
                pastEvents=shown[: len(before)],
                newEvents=shown[len(before) :],
            )
            response = await self.dispatcher.run("orchestrator", _name(before, new), request)
            r = round_of(instance_id, before, new, response)
            if r.result.custom_status is not None:
                custom = r.result.custom_status
            c = r.result.completion
            if c is None or c.status is not OrchestrationStatus.CONTINUED_AS_NEW:
                if c is not None:  # it ended: no next episode to translate for
                    self.shown.forget(instance_id)
                break
            old, new = next_execution(instance_id, r, now, _guid)
            outbound.extend(old)
            before, continued = [], True
        return episode_of(
            instance_id,
            new,
            r,
            now=now,
            new_guid=_guid,
            outbound_before=outbound,
            custom_status=custom,
            continued=continued,
            discarded=discarded,
        )

    # -- activities -------------------------------------------------------------------------------

    async def run_activity(self, work: ActivityWork) -> ActivityOutcome:
        """``ran`` is True: the SDK ran the function and answered, and its crash could not take this process
        down, so the activity is proven here. Its next work items are then dispatched locally (no receive,
        no polling delay) and their results handed straight into the orchestration's session rather than
        sent through the control queue, as for an in-process activity (``worker.pipeline.activities``).
        A worker that disconnects or gives no answer still sends the work item back to its queue."""
        return ActivityOutcome(await self._activity(work), ran=True)

    async def _activity(self, work: ActivityWork) -> HistoryEvent:
        event = work.event
        request = pb.ActivityRequest(
            name=event.name or "",
            version=string_value(event.version or None),
            input=string_value(event.input),
            orchestrationInstance=pb.OrchestrationInstance(
                instanceId=work.instance_id, executionId=string_value(work.execution_id)
            ),
            taskId=event.event_id,
            parentTraceContext=trace_to_proto(event.parent_trace_context),
            tags=event.tags or {},
        )
        response: pb.ActivityResponse = await self.dispatcher.run("activity", event.name or "", request)
        if response.HasField("failureDetails"):
            details = failure_from_proto(response.failureDetails)
            return TaskFailedEvent(
                task_scheduled_id=event.event_id,
                reason=str(details),
                details=details.stack_trace,
                failure_details=details,
            )
        return TaskCompletedEvent(
            task_scheduled_id=event.event_id, result=text(response.result, response.HasField("result"))
        )

    # -- entities ---------------------------------------------------------------------------------

    async def run_entity_batch(self, work: EntityWork) -> None:
        """Run the operations on a connected worker; its per-operation results, final state and actions go
        into the batch as an in-process batch leaves them (a failed operation's changes the SDK rolled
        back)."""
        instance_id, batch = work.instance_id, work.batch
        ops: list[RequestMessage] = list(work.operations)
        state = batch.state
        request = pb.EntityBatchRequest(
            instanceId=instance_id,
            entityState=string_value(state.state if state.exists else None),
            operations=[
                pb.OperationRequest(operation=op.op or "", requestId=op.id, input=string_value(op.input))
                for op in ops
            ],
        )
        entity_name = batch.entity_id.name
        result: pb.EntityBatchResult = await self.dispatcher.run("entity", entity_name, request)
        if result.HasField("failureDetails"):
            raise RemoteBatchError(
                f"entity {instance_id!r}: the SDK failed the batch: {result.failureDetails.errorMessage}"
            )
        for op, outcome in zip(ops, result.results, strict=False):
            if outcome.HasField("failure"):
                details = failure_from_proto(outcome.failure.failureDetails)
                batch.outcomes.append(Outcome(op, error=RemoteOperationError(str(details))))
            else:
                batch.outcomes.append(
                    Outcome(op, result=text(outcome.success.result, outcome.success.HasField("result")))
                )
        has_state = result.HasField("entityState")
        state.exists, state.state = has_state, (result.entityState.value if has_state else None)
        me = str(batch.entity_id)
        for action in result.actions:
            if action.HasField("sendSignal"):
                signal = action.sendSignal
                message = RequestMessage(
                    id=str(uuid.uuid4()),
                    op=signal.name,
                    signal=True,
                    input=text(signal.input, signal.HasField("input")),
                    parent=me,
                    due=stamp_of(moment(signal.scheduledTime)) if signal.HasField("scheduledTime") else None,
                )
                batch.signals.append((signal.instanceId, message))
            elif action.HasField("startNewOrchestration"):
                start = action.startNewOrchestration
                batch.starts.append(
                    StartOrchestration(
                        start.name,
                        start.instanceId or uuid.uuid4().hex,
                        text(start.input, start.HasField("input")),
                    )
                )


class WithRemote:
    """An executor for activities and entity batches: what the app has runs through its own executor
    (``local``), the rest on the connected workers (``remote``)."""

    def __init__(self, local: Executor, remote: RemoteExecutor) -> None:
        self.local = local
        self.remote = remote
        self.keeps_sessions = local.keeps_sessions

    async def decide(self, work: OrchestrationWork) -> Decisions:
        return await self.local.decide(work)

    async def run_activity(self, work: ActivityWork) -> ActivityOutcome:
        if self.remote.app.get_activity(work.event.name or "") is None:
            return await self.remote.run_activity(work)
        return await self.local.run_activity(work)

    async def run_entity_batch(self, work: EntityWork) -> None:
        if work.operations and self.remote.app.get_entity(work.batch.entity_id.name) is None:
            await self.remote.run_entity_batch(work)
        else:
            await self.local.run_entity_batch(work)

    def close(self) -> None:
        self.local.close()


class RemoteOperationError(Exception):
    """An entity operation that failed on the SDK worker (its failure details as the message)."""


class RemoteBatchError(Exception):
    """The SDK worker failed a whole entity batch; its messages go back to the queue."""


def _guid() -> str:
    return uuid.uuid4().hex


def _name(past: Sequence[HistoryEvent], new: Sequence[HistoryEvent]) -> str:
    started = next((e for e in [*past, *new] if isinstance(e, ExecutionStartedEvent)), None)
    return (started.name if started else None) or ""


def _execution_id(past: Sequence[HistoryEvent], new: Sequence[HistoryEvent]) -> str | None:
    started = next((e for e in [*past, *new] if isinstance(e, ExecutionStartedEvent)), None)
    instance = started.orchestration_instance if started else None
    return instance.execution_id if instance else None
