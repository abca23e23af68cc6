"""The client RPCs of ``TaskHubSidecarService``, each one call of ``TaskHubClient``.

What the SDK sends maps onto the client's methods; the client's errors become gRPC status codes in
``worker.sidecar.service``. Where the protocol has a field this hub does not act on, the docstring of the
RPC says so (the README lists them too).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import empty_pb2

from taskhub.client.async_client import TaskHubClient
from taskhub.client.control import PURGEABLE_STATUSES
from taskhub.client.status import OrchestrationState
from taskhub.errors import OrchestrationNotFoundError
from taskhub.format.history import ExecutionStartedEvent
from worker.sidecar.decisions import to_sdk
from worker.sidecar.proto import (
    entity_to_proto,
    json_or_none,
    moment,
    pb,
    state_to_proto,
    status_from_proto,
    string_value,
    text,
)

__all__ = ["ClientRpcs", "DEFAULT_PAGE_SIZE", "WAIT_WITHOUT_DEADLINE_S", "HISTORY_CHUNK"]

DEFAULT_PAGE_SIZE = 100
"""Instances or entities per page when the request does not say (the client's own default)."""
WAIT_WITHOUT_DEADLINE_S = 24 * 3600.0
"""How long a wait RPC without a gRPC deadline waits at most (the SDKs always send one)."""
HISTORY_CHUNK = 100
"""History events per ``HistoryChunk`` of ``StreamInstanceHistory``."""
_EARLIEST = datetime(1601, 1, 1, tzinfo=UTC)


class ClientRpcs:
    """The client half of the servicer; ``client`` is the hub's ``TaskHubClient``."""

    client: TaskHubClient

    async def Hello(self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    async def StartInstance(
        self, request: pb.CreateInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateInstanceResponse:
        """``orchestrationIdReusePolicy`` and ``executionId`` are not acted on: an id whose instance is
        Pending, Running or Suspended is refused (ALREADY_EXISTS), a finished one is started again."""
        instance_id = await self.client.schedule_new_orchestration(
            request.name,
            input=json_or_none(request.input, request.HasField("input")),
            instance_id=request.instanceId or None,
            start_at=(
                moment(request.scheduledStartTimestamp)
                if request.HasField("scheduledStartTimestamp")
                else None
            ),
            tags=dict(request.tags) or None,
            version=text(request.version, request.HasField("version")),
        )
        return pb.CreateInstanceResponse(instanceId=instance_id)

    async def GetInstance(
        self, request: pb.GetInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetInstanceResponse:
        state = await self.client.get_orchestration_state(
            request.instanceId, fetch_payloads=request.getInputsAndOutputs
        )
        return _instance_response(state, request.getInputsAndOutputs)

    async def WaitForInstanceStart(
        self, request: pb.GetInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetInstanceResponse:
        wait = self.client.wait_for_orchestration_start
        return await self._wait(wait, request, context)

    async def WaitForInstanceCompletion(
        self, request: pb.GetInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetInstanceResponse:
        wait = self.client.wait_for_orchestration_completion
        return await self._wait(wait, request, context)

    async def _wait(
        self,
        wait: Callable[..., Awaitable[OrchestrationState]],
        request: pb.GetInstanceRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.GetInstanceResponse:
        remaining = context.time_remaining()
        timeout = WAIT_WITHOUT_DEADLINE_S if remaining is None else max(0.0, remaining)
        try:
            await wait(request.instanceId, timeout=timeout)
        except TimeoutError as err:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, str(err))
        state = await self.client.get_orchestration_state(
            request.instanceId, fetch_payloads=request.getInputsAndOutputs
        )
        return _instance_response(state, request.getInputsAndOutputs)

    async def RaiseEvent(
        self, request: pb.RaiseEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.RaiseEventResponse:
        data = json_or_none(request.input, request.HasField("input"))
        await self.client.raise_orchestration_event(request.instanceId, request.name, data=data)
        return pb.RaiseEventResponse()

    async def TerminateInstance(
        self, request: pb.TerminateRequest, context: grpc.aio.ServicerContext
    ) -> pb.TerminateResponse:
        """``recursive`` is not acted on: sub-orchestrations go on running."""
        output = json_or_none(request.output, request.HasField("output"))
        await self.client.terminate_orchestration(request.instanceId, output=output)
        return pb.TerminateResponse()

    async def SuspendInstance(
        self, request: pb.SuspendRequest, context: grpc.aio.ServicerContext
    ) -> pb.SuspendResponse:
        reason = text(request.reason, request.HasField("reason"))
        await self.client.suspend_orchestration(request.instanceId, reason=reason)
        return pb.SuspendResponse()

    async def ResumeInstance(
        self, request: pb.ResumeRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResumeResponse:
        reason = text(request.reason, request.HasField("reason"))
        await self.client.resume_orchestration(request.instanceId, reason=reason)
        return pb.ResumeResponse()

    async def RewindInstance(
        self, request: pb.RewindInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RewindInstanceResponse:
        reason = text(request.reason, request.HasField("reason"))
        await self.client.rewind_orchestration(request.instanceId, reason=reason)
        return pb.RewindInstanceResponse()

    async def RestartInstance(
        self, request: pb.RestartInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RestartInstanceResponse:
        new_id = await self.client.restart_orchestration(
            request.instanceId, new_instance_id=request.restartWithNewInstanceId
        )
        return pb.RestartInstanceResponse(instanceId=new_id)

    async def QueryInstances(
        self, request: pb.QueryInstancesRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueryInstancesResponse:
        """``taskHubNames`` is not acted on: the sidecar serves one hub."""
        q = request.query
        page = await self.client.query_orchestrations(
            created_from=moment(q.createdTimeFrom) if q.HasField("createdTimeFrom") else None,
            created_to=moment(q.createdTimeTo) if q.HasField("createdTimeTo") else None,
            statuses=[status_from_proto(s) for s in q.runtimeStatus] or None,
            instance_id_prefix=text(q.instanceIdPrefix, q.HasField("instanceIdPrefix")) or None,
            page_size=min(q.maxInstanceCount, 1000) if q.maxInstanceCount > 0 else DEFAULT_PAGE_SIZE,
            continuation_token=text(q.continuationToken, q.HasField("continuationToken")) or None,
        )
        return pb.QueryInstancesResponse(
            orchestrationState=[state_to_proto(s, with_payloads=q.fetchInputsAndOutputs) for s in page.items],
            continuationToken=string_value(page.continuation_token),
        )

    async def ListInstanceIds(
        self, request: pb.ListInstanceIdsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListInstanceIdsResponse:
        """Ids of finished instances (by default Completed, Failed, Terminated, Canceled), filtered by
        completion time; ``lastInstanceKey`` is the continuation token of the page before."""
        statuses = [status_from_proto(s) for s in request.runtimeStatus] or list(PURGEABLE_STATUSES)
        low = moment(request.completedTimeFrom) if request.HasField("completedTimeFrom") else None
        high = moment(request.completedTimeTo) if request.HasField("completedTimeTo") else None
        page = await self.client.query_orchestrations(
            statuses=statuses,
            page_size=min(request.pageSize, 1000) if request.pageSize > 0 else DEFAULT_PAGE_SIZE,
            continuation_token=text(request.lastInstanceKey, request.HasField("lastInstanceKey")) or None,
        )
        ids = [
            s.instance_id
            for s in page.items
            if (low is None or (s.completed_at is not None and s.completed_at >= low))
            and (high is None or (s.completed_at is not None and s.completed_at < high))
        ]
        return pb.ListInstanceIdsResponse(
            instanceIds=ids, lastInstanceKey=string_value(page.continuation_token)
        )

    async def PurgeInstances(
        self, request: pb.PurgeInstancesRequest, context: grpc.aio.ServicerContext
    ) -> pb.PurgeInstancesResponse:
        """By id, by a batch of ids, or by filter (finished instances only). ``recursive`` is not acted on:
        sub-orchestrations are purged by their own ids; the filter's ``timeout`` neither (a purge runs to
        its end, so ``isComplete`` is always true)."""
        which = request.WhichOneof("request")
        if which == "purgeInstanceFilter":
            f = request.purgeInstanceFilter
            result = await self.client.purge_orchestrations_by(
                created_from=moment(f.createdTimeFrom) if f.HasField("createdTimeFrom") else _EARLIEST,
                created_to=moment(f.createdTimeTo) if f.HasField("createdTimeTo") else None,
                statuses=[status_from_proto(s) for s in f.runtimeStatus] or None,
            )
            count = result.deleted_instance_count
        else:
            ids = (
                list(request.instanceBatch.instanceIds) if which == "instanceBatch" else [request.instanceId]
            )
            results = await asyncio.gather(*(self.client.purge_orchestration(i) for i in ids))
            count = sum(r.deleted_instance_count for r in results)
        return pb.PurgeInstancesResponse(deletedInstanceCount=count, isComplete=_true())

    async def StreamInstanceHistory(
        self, request: pb.StreamInstanceHistoryRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.HistoryChunk]:
        """The current execution's history (the only one this hub keeps), in chunks of
        ``HISTORY_CHUNK`` events, as the SDK's worker saw it."""
        try:
            events = await self.client.get_orchestration_history(request.instanceId)
        except OrchestrationNotFoundError as err:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(err))
        wanted = text(request.executionId, request.HasField("executionId"))
        current = next((e for e in events if isinstance(e, ExecutionStartedEvent)), None)
        instance = current.orchestration_instance if current else None
        if wanted and (instance is None or instance.execution_id != wanted):
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"instance {request.instanceId!r} has no execution {wanted!r} (this hub keeps the current one)",
            )
        shown = to_sdk(events)
        for at in range(0, len(shown), HISTORY_CHUNK):
            yield pb.HistoryChunk(events=shown[at : at + HISTORY_CHUNK])

    # -- entities -----------------------------------------------------------------------------------

    async def SignalEntity(
        self, request: pb.SignalEntityRequest, context: grpc.aio.ServicerContext
    ) -> pb.SignalEntityResponse:
        """``requestId`` is not kept: the hub gives the signal its own id."""
        await self.client.signal_entity(
            request.instanceId,
            request.name,
            input=json_or_none(request.input, request.HasField("input")),
            signal_time=moment(request.scheduledTime) if request.HasField("scheduledTime") else None,
        )
        return pb.SignalEntityResponse()

    async def GetEntity(
        self, request: pb.GetEntityRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetEntityResponse:
        meta = await self.client.get_entity(request.instanceId, include_state=request.includeState)
        if meta is None:
            return pb.GetEntityResponse(exists=False)
        return pb.GetEntityResponse(exists=True, entity=entity_to_proto(meta))

    async def QueryEntities(
        self, request: pb.QueryEntitiesRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueryEntitiesResponse:
        """``instanceIdStartsWith`` filters the page's entities by their ``@name@key`` id."""
        q = request.query
        prefix = text(q.instanceIdStartsWith, q.HasField("instanceIdStartsWith")) or ""
        page = await self.client.query_entities(
            last_modified_from=moment(q.lastModifiedFrom) if q.HasField("lastModifiedFrom") else None,
            last_modified_to=moment(q.lastModifiedTo) if q.HasField("lastModifiedTo") else None,
            include_state=q.includeState,
            include_deleted=q.includeTransient,
            page_size=min(q.pageSize.value, 1000) if q.pageSize.value > 0 else DEFAULT_PAGE_SIZE,
            continuation_token=text(q.continuationToken, q.HasField("continuationToken")) or None,
        )
        items = [m for m in page.items if str(m.entity_id).startswith(_entity_prefix(prefix))]
        return pb.QueryEntitiesResponse(
            entities=[entity_to_proto(m) for m in items],
            continuationToken=string_value(page.continuation_token),
        )

    async def CleanEntityStorage(
        self, request: pb.CleanEntityStorageRequest, context: grpc.aio.ServicerContext
    ) -> pb.CleanEntityStorageResponse:
        """Every page is visited in one call, so the reply carries no continuation token."""
        result = await self.client.clean_entity_storage(
            remove_empty_entities=request.removeEmptyEntities,
            release_orphaned_locks=request.releaseOrphanedLocks,
        )
        return pb.CleanEntityStorageResponse(
            emptyEntitiesRemoved=result.empty_entities_removed,
            orphanedLocksReleased=result.orphaned_locks_released,
        )


def _instance_response(state: OrchestrationState | None, with_payloads: bool) -> pb.GetInstanceResponse:
    if state is None:
        return pb.GetInstanceResponse(exists=False)
    return pb.GetInstanceResponse(
        exists=True, orchestrationState=state_to_proto(state, with_payloads=with_payloads)
    )


def _entity_prefix(prefix: str) -> str:
    """Entity names are stored lower-cased: ``@Counter@k`` matches ``@counter@k``."""
    if not prefix.startswith("@"):
        return prefix
    name, sep, key = prefix[1:].partition("@")
    return f"@{name.lower()}{sep}{key}"


def _true() -> Any:
    from google.protobuf import wrappers_pb2

    return wrappers_pb2.BoolValue(value=True)
