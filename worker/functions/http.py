"""HTTP triggers under ``/api/{route}``, with the durable client binding injected (functions-host.md 6, 7).

A request becomes a ``func.HttpRequest`` (method, URL, headers, query, route parameters, body); the
function gets it under its trigger's binding name, the client binding JSON (pointing at this server's
webhook routes and at its ``/durabletask/`` RPC routes) under the client binding's name, a ``func.Out``
for each named http output, and ``func.Context`` for a parameter named ``context`` with no binding. Sync
functions run in a thread pool, async ones on the loop. The response is the ``$return`` value or the
named output's value: a ``func.HttpResponse``, or a str/bytes body (200).

Route templates follow the Functions host: ``{name}``, ``{name:constraint}`` (the constraint is not
checked), ``{name?}`` (optional: served with and without it) and ``{*rest}`` (the rest of the path).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from taskhub.http.urls import durable_client_binding
from worker.functions.discovery import CLIENT_BINDINGS, FunctionInfo
from worker.functions.runlog import RunLog, first_line

__all__ = ["HttpFunctions", "aiohttp_routes"]

log = logging.getLogger(__name__)

API_PREFIX = "/api"
_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?(\??)\}")


def aiohttp_routes(route: str) -> list[str]:
    """The aiohttp paths serving a Functions route template (more than one when a parameter is optional)."""
    template = route.strip("/")
    optional = [m.group(2) for m in _PARAM.finditer(template) if m.group(3)]

    def render(keep: set[str]) -> str:
        def one(m: re.Match[str]) -> str:
            name = m.group(2)
            if m.group(3) and name not in keep:
                return ""
            return f"{{{name}:.*}}" if m.group(1) else f"{{{name}}}"

        path = _PARAM.sub(one, template)
        path = re.sub(r"/{2,}", "/", path).rstrip("/")
        return f"{API_PREFIX}/{path}" if path else API_PREFIX

    paths = [render(set(optional))]
    for i in range(len(optional)):
        paths.append(render(set(optional[: len(optional) - 1 - i])))
    return list(dict.fromkeys(paths))


class _Out:
    """``func.Out``: what a function sets on a named output binding."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


class _Context:
    def __init__(self, function_name: str, invocation_id: str) -> None:
        self.invocation_id = invocation_id
        self.function_name = function_name
        self.function_directory = ""
        self.trace_context = None
        self.retry_context = None


class HttpFunctions:
    """Serves the app's HTTP triggers; ``base_url()`` is this server's own origin for the client binding."""

    def __init__(
        self,
        functions: list[FunctionInfo],
        *,
        base_url: Callable[[], str],
        hub_name: str,
        connection_name: str,
        pool: ThreadPoolExecutor,
        runlog: RunLog | None = None,
    ) -> None:
        self.functions = functions
        self.runlog = runlog or RunLog()
        self.base_url = base_url
        self.hub_name = hub_name
        self.connection_name = connection_name
        self.pool = pool

    def routes(self) -> list[web.RouteDef]:
        out = []
        for info in self.functions:
            handler = functools.partial(self._handle, info)
            for path in aiohttp_routes(info.route):
                for method in info.methods:
                    out.append(web.route(method, path, handler))
        return out

    async def _handle(self, info: FunctionInfo, request: web.Request) -> web.StreamResponse:
        invocation_id = str(uuid.uuid4())
        with self.runlog.run(info.name, f"{request.method} {request.path}", invocation_id) as run:
            response, error = await self._invoke(info, request, invocation_id)
            if error is not None:
                run.fail(error)
            return response

    async def _invoke(
        self, info: FunctionInfo, request: web.Request, invocation_id: str
    ) -> tuple[web.StreamResponse, str | None]:
        """The response, and the first line of the error when the function failed (a 500)."""
        import azure.functions as func

        body = await request.read()
        req = func.HttpRequest(
            request.method,
            str(request.url),
            headers=dict(request.headers),
            params=dict(request.query),
            route_params=dict(request.match_info),
            body=body,
        )
        kwargs: dict[str, Any] = {}
        outputs: dict[str, _Out] = {}
        for binding in info.bindings:
            name, kind = str(binding.get("name")), binding.get("type")
            if kind == "httpTrigger":
                kwargs[name] = req
            elif kind in CLIENT_BINDINGS:
                kwargs[name] = durable_client_binding(
                    self.base_url(), self.hub_name, connection_name=self.connection_name
                )
            elif kind == "http" and name != "$return":
                outputs[name] = kwargs[name] = _Out()
        fn = info.fn
        assert fn is not None
        if "context" in inspect.signature(fn).parameters and "context" not in kwargs:
            kwargs["context"] = _Context(info.name, invocation_id)
        try:
            result = await self._call(fn, kwargs)
        except Exception as exc:
            log.error("func.http_failed function=%s error=%s: %s", info.name, type(exc).__name__, exc)
            return web.Response(status=500), first_line(exc)
        if result is None:
            result = next((out.value for out in outputs.values() if out.value is not None), None)
        response = _response(info.name, result)
        bad = f"the function returned a {type(result).__name__}, not an HttpResponse, str or bytes"
        return response, (
            bad if response.status == 500 and not isinstance(result, func.HttpResponse) else None
        )

    async def _call(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        if inspect.iscoroutinefunction(fn):
            return await fn(**kwargs)
        loop = asyncio.get_running_loop()
        run = contextvars.copy_context().run  # the request's trace context (a traceparent) goes along
        result = await loop.run_in_executor(self.pool, functools.partial(run, fn, **kwargs))
        if inspect.isawaitable(result):
            awaited: Awaitable[Any] = result
            return await awaited
        return result


def _response(name: str, result: Any) -> web.StreamResponse:
    import azure.functions as func

    if result is None:
        return web.Response(status=204)
    if isinstance(result, func.HttpResponse):
        headers = dict(result.headers.items())
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = (
                f"{result.mimetype or 'text/plain'}; charset={result.charset or 'utf-8'}"
            )
        return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
    if isinstance(result, str | bytes):
        return web.Response(status=200, body=result.encode() if isinstance(result, str) else result)
    log.error("func.http_bad_result function=%s type=%s", name, type(result).__name__)
    return web.Response(status=500)
