"""What ``taskhub serve`` (and ``taskhub func start``) add for operators (docs/observability.md):

* ``GET {prefix}/scale``: the scale signal (``HubAdmin.scale_status``) of the hub (``?taskHub=``
  names another), as JSON that KEDA's metrics-api scaler reads (``valueLocation: targetWorkerCount``).
* ``GET /metrics``: Prometheus text, when metrics are on (``taskhub serve --metrics``): the hub's
  backlog per queue, read at each scrape, and this process's storage calls.
* A middleware that makes an incoming W3C ``traceparent`` header the parent of the spans a request
  starts (the client's ``create_orchestration`` span), when tracing is on.

All of them sit behind the server's own rules (key, hosts), like every other route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from taskhub.client.async_client import TaskHubClient
from taskhub.http.params import query
from taskhub.http.urls import json_response
from taskhub.telemetry import metrics as m
from taskhub.telemetry import spans
from taskhub.telemetry.prometheus import metrics_handler

__all__ = ["add_metrics", "scale_routes", "trace_middleware"]

ClientFor = Callable[[str | None], Awaitable[TaskHubClient]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def scale_routes(client_for: ClientFor, prefix: str) -> list[web.RouteDef]:
    async def scale(request: web.Request) -> web.Response:
        client = await client_for(query(request).get("taskhub"))
        try:
            return json_response(await client.service.admin.scale_status())
        except LookupError as err:
            return json_response({"Message": str(err)}, status=404)

    return [web.get(prefix + "/scale", scale, allow_head=False)]


def trace_middleware() -> Any:
    @web.middleware
    async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
        with spans.remote_parent(request.headers.get("traceparent"), request.headers.get("tracestate")):
            return await handler(request)

    return traced


def add_metrics(app: web.Application, client_for: ClientFor) -> m.Metrics:
    """Metrics on for this process and ``GET /metrics`` on ``app`` (the default hub's backlog)."""
    metrics = m.enable()

    async def collect(into: m.Metrics) -> None:
        await (await client_for(None)).service.admin.collect_metrics(into)

    metrics.collectors.append(collect)
    app.router.add_get("/metrics", metrics_handler(metrics), allow_head=False)
    return metrics
