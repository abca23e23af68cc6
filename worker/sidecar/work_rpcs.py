"""The work RPCs: the ``GetWorkItems`` stream and the answers (complete, abandon) of connected workers.

They only move messages between the SDK and ``worker.sidecar.stream.Dispatcher``; what the answers
mean to the engine is ``worker.sidecar.remote``'s business.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from worker.sidecar.proto import pb
from worker.sidecar.stream import Dispatcher

__all__ = ["WorkRpcs", "WORK_RPCS"]

WORK_RPCS = [
    "CompleteOrchestratorTask",
    "CompleteActivityTask",
    "AbandonTaskOrchestratorWorkItem",
    "AbandonTaskActivityWorkItem",
    "CompleteEntityTask",
    "AbandonTaskEntityWorkItem",
]
"""The unary work RPCs (``GetWorkItems`` streams and is served as is)."""


class WorkRpcs:
    dispatcher: Dispatcher

    async def GetWorkItems(
        self, request: pb.GetWorkItemsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WorkItem]:
        async for item in self.dispatcher.stream(request):
            yield item

    async def CompleteOrchestratorTask(
        self, request: pb.OrchestratorResponse, context: grpc.aio.ServicerContext
    ) -> pb.CompleteTaskResponse:
        self.dispatcher.complete(request.completionToken, request)
        return pb.CompleteTaskResponse()

    async def CompleteActivityTask(
        self, request: pb.ActivityResponse, context: grpc.aio.ServicerContext
    ) -> pb.CompleteTaskResponse:
        self.dispatcher.complete(request.completionToken, request)
        return pb.CompleteTaskResponse()

    async def AbandonTaskOrchestratorWorkItem(
        self, request: pb.AbandonOrchestrationTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.AbandonOrchestrationTaskResponse:
        self.dispatcher.abandon(request.completionToken)
        return pb.AbandonOrchestrationTaskResponse()

    async def AbandonTaskActivityWorkItem(
        self, request: pb.AbandonActivityTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.AbandonActivityTaskResponse:
        self.dispatcher.abandon(request.completionToken)
        return pb.AbandonActivityTaskResponse()

    async def CompleteEntityTask(
        self, request: pb.EntityBatchResult, context: grpc.aio.ServicerContext
    ) -> pb.CompleteTaskResponse:
        self.dispatcher.complete(request.completionToken, request)
        return pb.CompleteTaskResponse()

    async def AbandonTaskEntityWorkItem(
        self, request: pb.AbandonEntityTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.AbandonEntityTaskResponse:
        self.dispatcher.abandon(request.completionToken)
        return pb.AbandonEntityTaskResponse()
