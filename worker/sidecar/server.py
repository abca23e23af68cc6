"""The sidecar's lifecycle: a grpc.aio server of ``TaskHubSidecarService`` over one hub, and a worker
of the hub in the same process (it takes partitions like any worker, so several sidecars scale a hub out
and fail over). The worker runs the functions of the optional App itself and everything else on the
connected SDK workers (``worker.sidecar.remote``).

``start()`` binds (a port in use is a one-line ConfigurationError) and serves; ``stop()`` ends the work
streams (work held by SDK workers goes back to the queues), refuses new calls, gives running ones
``STOP_GRACE_S`` seconds (a wait RPC is cut off then), and stops the worker with its own bounded drain.
"""

from __future__ import annotations

import logging
import socket

import grpc

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings
from taskhub.errors import ConfigurationError
from taskhub.model.app import App
from worker.host import Worker
from worker.sidecar.remote import RemoteExecutor
from worker.sidecar.service import KeyInterceptor, SidecarService
from worker.sidecar.stream import Dispatcher

__all__ = ["Sidecar", "DEFAULT_PORT", "STOP_GRACE_S"]

log = logging.getLogger(__name__)

DEFAULT_PORT = 4001
"""Where the Durable Task SDKs look by default (``localhost:4001``)."""
STOP_GRACE_S = 5.0
"""How long running calls get to finish when the sidecar stops."""


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _probe(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (gRPC's own failure logs a multi-line error first)."""
    if port == 0:
        return True
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return False
    family, kind, proto, _, where = infos[0]
    with socket.socket(family, kind, proto) as s:
        try:
            s.bind(where)
        except OSError:
            return False
    return True


class Sidecar:
    """``async with Sidecar(settings, port=0) as s: ...`` (``s.port`` is the bound port)."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        key: str | None = None,
        app: App | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.key = key
        self.client = TaskHubClient(settings)
        self.dispatcher = Dispatcher()
        self.worker = Worker(app or App(), settings, worker_id=worker_id)
        RemoteExecutor(self.dispatcher, self.worker.app).attach(self.worker)
        interceptors = [KeyInterceptor(key)] if key else []
        # no SO_REUSEPORT: a second sidecar on the same port must fail, not share it
        self._server = grpc.aio.server(interceptors=interceptors, options=[("grpc.so_reuseport", 0)])
        self._started = False

    async def start(self) -> None:
        from durabletask.internal import orchestrator_service_pb2_grpc as pb_grpc

        service = SidecarService(self.client, self.dispatcher)
        pb_grpc.add_TaskHubSidecarServiceServicer_to_server(service, self._server)
        address = bind_address(self.host, self.port)
        try:
            bound = _probe(self.host, self.port) and self._server.add_insecure_port(address)
        except RuntimeError:
            bound = 0
        if bound == 0:
            await self.client.close()
            raise ConfigurationError("--port", self.port, f"cannot listen on {address} (is the port in use?)")
        self.port = bound
        await self._server.start()
        self._started = True
        await self.worker.start()
        log.info("sidecar.start hub=%s address=%s key=%s", self.settings.hub_name, address, bool(self.key))

    async def stop(self) -> None:
        await self.dispatcher.close()
        if self._started:
            await self._server.stop(STOP_GRACE_S)
            self._started = False
        await self.worker.stop()
        await self.client.close()
        log.info("sidecar.stopped hub=%s", self.settings.hub_name)

    async def __aenter__(self) -> Sidecar:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
