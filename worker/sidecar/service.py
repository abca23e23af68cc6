"""The servicer: the client RPCs (``client_rpcs``), errors as gRPC status codes, UNIMPLEMENTED with a
sentence for the RPCs this sidecar does not serve, and the access-key check beyond loopback.

Errors: a missing instance is NOT_FOUND, an instance in the wrong state FAILED_PRECONDITION, an id in use
ALREADY_EXISTS, bad input INVALID_ARGUMENT (each with the client's one-line message), storage trouble
UNAVAILABLE; anything else is logged and answers INTERNAL.
"""

from __future__ import annotations

import functools
import hmac
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from durabletask.internal import orchestrator_service_pb2_grpc as pb_grpc

from taskhub.client.async_client import TaskHubClient
from taskhub.errors import (
    OrchestrationAlreadyExistsError,
    OrchestrationNotFoundError,
    OrchestrationStateError,
    StorageError,
)
from worker.sidecar.client_rpcs import ClientRpcs
from worker.sidecar.stream import Dispatcher
from worker.sidecar.work_rpcs import WORK_RPCS, WorkRpcs

__all__ = ["SidecarService", "KeyInterceptor", "KEY_METADATA", "UNIMPLEMENTED_RPCS", "SERVED_RPCS"]

log = logging.getLogger(__name__)

KEY_METADATA = "x-functions-key"
"""The gRPC metadata entry that carries the access key (the header `taskhub serve` reads)."""

SERVED_RPCS = [
    "Hello",
    "StartInstance",
    "GetInstance",
    "WaitForInstanceStart",
    "WaitForInstanceCompletion",
    "RaiseEvent",
    "TerminateInstance",
    "SuspendInstance",
    "ResumeInstance",
    "RewindInstance",
    "RestartInstance",
    "QueryInstances",
    "ListInstanceIds",
    "PurgeInstances",
    "SignalEntity",
    "GetEntity",
    "QueryEntities",
    "CleanEntityStorage",
]
UNIMPLEMENTED_RPCS: dict[str, str] = {
    "CreateTaskHub": "the hub's queues, tables and containers are created by `taskhub create-hub` "
    "or the first worker",
    "DeleteTaskHub": "delete a hub with `taskhub delete-hub`, not through the sidecar",
    "SkipGracefulOrchestrationTerminations": "termination always runs through the orchestration's "
    "control queue on this hub",
}


def _status_of(err: Exception) -> tuple[grpc.StatusCode, str] | None:
    if isinstance(err, OrchestrationNotFoundError | LookupError):
        return grpc.StatusCode.NOT_FOUND, str(err)
    if isinstance(err, OrchestrationAlreadyExistsError):
        return grpc.StatusCode.ALREADY_EXISTS, str(err)
    if isinstance(err, OrchestrationStateError):
        return grpc.StatusCode.FAILED_PRECONDITION, str(err)
    if isinstance(err, StorageError):
        return grpc.StatusCode.UNAVAILABLE, f"the task hub's storage is not available: {err}"
    if isinstance(err, ValueError | TypeError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(err)
    return None


def _answering(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap one RPC: known errors become their status code with the error's sentence."""

    @functools.wraps(method)
    async def rpc(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as err:
            status = _status_of(err)
            if status is None:
                log.exception("sidecar.rpc_failed rpc=%s", method.__name__)
                status = (grpc.StatusCode.INTERNAL, f"{method.__name__} failed: {type(err).__name__}: {err}")
            await context.abort(*status)

    return rpc


def _unimplemented(name: str, why: str) -> Callable[..., Any]:
    async def rpc(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{name} is not served by taskhub sidecar: {why}")

    rpc.__name__ = name
    return rpc


class SidecarService(ClientRpcs, WorkRpcs, pb_grpc.TaskHubSidecarServiceServicer):
    """``TaskHubSidecarService`` over one hub's ``TaskHubClient`` and the work-item ``Dispatcher``."""

    def __init__(self, client: TaskHubClient, dispatcher: Dispatcher) -> None:
        self.client = client
        self.dispatcher = dispatcher


for _name in SERVED_RPCS:
    setattr(SidecarService, _name, _answering(getattr(ClientRpcs, _name)))
for _name in WORK_RPCS:
    setattr(SidecarService, _name, _answering(getattr(WorkRpcs, _name)))
for _name, _why in UNIMPLEMENTED_RPCS.items():
    setattr(SidecarService, _name, _unimplemented(_name, _why))
_left = (
    {
        n
        for n, v in inspect.getmembers(pb_grpc.TaskHubSidecarServiceServicer, inspect.isfunction)
        if n[0].isupper()
    }
    - set(SERVED_RPCS)
    - set(WORK_RPCS)
    - {"GetWorkItems", "StreamInstanceHistory"}
    - set(UNIMPLEMENTED_RPCS)
)
for _name in _left:  # RPCs of newer protocol versions: say so rather than "Method not implemented!"
    setattr(SidecarService, _name, _unimplemented(_name, "this RPC is newer than the protocol it speaks"))


class KeyInterceptor(grpc.aio.ServerInterceptor):
    """Every call must carry ``x-functions-key: KEY`` in its metadata; others get UNAUTHENTICATED."""

    def __init__(self, key: str) -> None:
        self._key = key.encode("utf-8")

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]], details: Any) -> Any:
        given = next((v for k, v in details.invocation_metadata or () if k == KEY_METADATA), "")
        given_bytes = given.encode("utf-8") if isinstance(given, str) else bytes(given)
        handler = await continuation(details)
        if hmac.compare_digest(given_bytes, self._key) or handler is None:
            return handler
        return _refusing(handler)


def _refusing(handler: Any) -> Any:
    message = f"unauthorized: pass the sidecar's access key in the {KEY_METADATA!r} metadata"

    async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def deny_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # pragma: no cover - a generator, as the stream handler must be

    kw = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(deny_stream, **kw)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(deny, **kw)
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(deny_stream, **kw)
    return grpc.unary_unary_rpc_method_handler(deny, **kw)
