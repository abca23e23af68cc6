"""The one adapter between the engine and connected SDK workers: a "remote executor".

Everything goes through the executor seam (``worker.executors.base``); ``WithRemote`` sends there what
the local App lacks and runs the rest through the App's own executor. An orchestration whose
orchestrator the App does not have is decided (``OrchestrationExecutor.decide``) by a connected worker:
the execution's past and new events go as an ``OrchestratorRequest`` (the protocol's ``HistoryEvent``s),
and the ``CompleteOrchestratorTask`` answer comes back as ``Decisions`` (``worker.sidecar.decisions``),
which the engine applies as it applies an in-process orchestrator's (``worker.engine.episode``). An
activity or entity the App does not have goes as an ``ActivityRequest`` / ``EntityBatchRequest``. When no worker takes the item
(``NoWorker``) or its worker disconnects (``WorkerGone``), ``LeaveForLater`` makes the pipeline give the
messages back to their queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from taskhub.format.entities import RequestMessage, stamp_of
from taskhub.format.history import (
    ExecutionStartedEvent,
    HistoryEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
)
from taskhub.model.app import App
from worker.engine.decisions import Decisions, OrchestrationWork
from worker.entities.batch import Outcome, StartOrchestration
from worker.executors.base import ActivityOutcome, ActivityWork, EntityWork, Executor
from worker.host import Worker
from worker.sidecar.decisions import decisions_of
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
        """Plug into a worker's pipeline, behind the executor seam: ``WithRemote`` decides the
        orchestrations and runs the activities and entity batches that the App lacks here."""
        both = WithRemote(worker.executor, self)
        worker.orchestrations.executor = both
        worker.activities.executor = both
        worker.entities.executor = both

    # -- orchestrations ---------------------------------------------------------------------------

    def handles(self, work: OrchestrationWork) -> bool:
        """Is the execution's orchestrator one the App does not have (so a connected worker's)?"""
        return self.app.get_orchestrator(_name(work.past, work.new)) is None

    async def decide(self, work: OrchestrationWork) -> Decisions:
        """One execution, decided by a connected worker (its SDK replays the whole history)."""
        instance_id, past, new = work.instance_id, work.past, work.new
        shown = self.shown.to_sdk(instance_id, [*past, *new])  # once: an event's view depends on those before it
        request = pb.OrchestratorRequest(
            instanceId=instance_id,
            executionId=string_value(_execution_id(past, new)),
            pastEvents=shown[: len(past)],
            newEvents=shown[len(past) :],
        )
        response = await self.dispatcher.run("orchestrator", _name(past, new), request)
        decisions = decisions_of(instance_id, past, new, response)
        if decisions.completion is not None:  # it ended or continued as new: nothing more to reuse
            self.shown.forget(instance_id)
        return decisions

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
    """An executor: what the app has runs through its own executor (``local``), the rest on the connected
    workers (``remote``)."""

    def __init__(self, local: Executor, remote: RemoteExecutor) -> None:
        self.local = local
        self.remote = remote
        self.keeps_sessions = local.keeps_sessions
        """The local executor's: a connected worker's decisions carry no session, so those replay."""

    async def decide(self, work: OrchestrationWork) -> Decisions:
        if self.remote.handles(work):
            return await self.remote.decide(work)
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
