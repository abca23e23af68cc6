"""The HTTP server (``taskhub serve``): the management API, its OpenAPI description, and safety rails.

* Bound to 127.0.0.1 by default. Bound to any other address, a key is required (``--key-setting``
  names the environment variable / local.settings.json value holding it, default ``TASKHUB_HTTP_KEY``);
  requests must carry it as ``?code=`` or ``x-functions-key`` (else 401). The key is never printed.
* Request bodies are limited (413 past ``max_body_bytes``); JSON bodies are validated (400).
* The front door (:mod:`taskhub.http.guard`) refuses other hosts (421), other web sites' state changes
  (403) and non-JSON bodies (415); ``?taskHub=`` reaches only existing hubs (:mod:`taskhub.client.hubs`).
* A connection gets ``CONNECTION_TIMEOUT`` seconds to send a request's headers, and may stay idle that
  long between requests; a client that goes away mid-upload is one log line.
* Errors are JSON ``{"Message": ...}``; an unexpected exception is logged here and answered with a
  plain 500 message: no response carries a stack trace or a secret.
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from taskhub.client.async_client import TaskHubClient
from taskhub.client.hubs import HubClients, UnknownHubError
from taskhub.config.settings import Settings
from taskhub.errors import ConfigurationError, StorageError
from taskhub.http.dashboard import PREFIX as DASHBOARD_PREFIX
from taskhub.http.dashboard import dashboard_app, mount
from taskhub.http.entities import EntityApi
from taskhub.http.guard import allowed_hosts_from, front_door, install_log_filter
from taskhub.http.observe import scale_routes, trace_middleware
from taskhub.http.openapi import openapi_document
from taskhub.http.routes import ApiError, ManagementApi
from taskhub.http.urls import RPC_PREFIX, WEBHOOK_PREFIX, json_response

__all__ = [
    "start_site",
    "create_app",
    "is_loopback",
    "DEFAULT_MAX_BODY_BYTES",
    "KEY_SETTING",
    "CLIENT_FOR",
    "MANAGEMENT_API",
    "HUB_CLIENTS",
    "MIN_KEY_LENGTH",
    "CONNECTION_TIMEOUT",
    "check_key",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
KEY_SETTING = "TASKHUB_HTTP_KEY"
MIN_KEY_LENGTH = 16
"""The shortest access key the server takes (printable characters, no whitespace)."""
CONNECTION_TIMEOUT = 15.0
"""Seconds a connection may take to send a request's headers, and may stay idle between requests."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ClientFor = Callable[[str | None], Awaitable[TaskHubClient]]

CLIENT_FOR: web.AppKey[ClientFor] = web.AppKey("client_for")
"""``await app[CLIENT_FOR](hub_name_or_None)``: the server's TaskHubClient of a hub, for users' own routes."""
MANAGEMENT_API: web.AppKey[ManagementApi] = web.AppKey("management_api")
HUB_CLIENTS: web.AppKey[HubClients] = web.AppKey("hub_clients")


def check_key(key: str, setting: str = KEY_SETTING) -> str:
    """``key`` when it is usable as the access key; else a one-line ValueError saying what is allowed."""
    if len(key) < MIN_KEY_LENGTH or not key.isprintable() or any(c.isspace() for c in key):
        raise ValueError(
            f"the access key ({setting}) must be at least {MIN_KEY_LENGTH} printable characters without "
            f"whitespace (it has {len(key)} characters); e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))'"
        )
    return key


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _errors_middleware() -> Any:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as err:
            return err.response()
        except web.HTTPRequestEntityTooLarge:
            return json_response({"Message": "Request body too large"}, status=413)
        except web.HTTPNotFound:
            return web.Response(status=404)
        except web.HTTPMethodNotAllowed:
            return web.Response(status=404)  # Durable Functions answers a wrong method like an unknown route
        except web.HTTPException:
            raise
        except ConfigurationError as err:  # e.g. an invalid ?taskHub= name
            return ApiError(400, str(err)).response()
        except UnknownHubError as err:
            return json_response({"Message": str(err)}, status=404)
        except ConnectionResetError:  # e.g. an upload the client aborted: nobody is left to answer
            log.info("http.client_gone method=%s path=%s", request.method, request.path)
            return web.Response(status=499)
        except StorageError as err:
            log.error("http.storage_error method=%s path=%s error=%s", request.method, request.path, err)
            return json_response({"Message": "The task hub's storage is not available"}, status=503)
        except Exception:
            log.exception("http.unhandled method=%s path=%s", request.method, request.path)
            return json_response(
                {"Message": "Something went wrong while processing your request"}, status=500
            )

    return errors


def _auth_middleware(key: str) -> Any:
    expected = key.encode("utf-8")

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == DASHBOARD_PREFIX or request.path.startswith(DASHBOARD_PREFIX + "/"):
            return await handler(request)  # the dashboard takes the key once and keeps a cookie
        given = request.headers.get("x-functions-key") or next(
            (v for k, v in request.query.items() if k.lower() == "code"), ""
        )
        if not hmac.compare_digest(given.encode("utf-8"), expected):
            return json_response(
                {"Message": "Unauthorized: pass the key as ?code= or x-functions-key"}, status=401
            )
        return await handler(request)

    return auth


def _hubs_middleware(hubs: HubClients) -> Any:
    @web.middleware
    async def hub_scope(request: web.Request, handler: Handler) -> web.StreamResponse:
        async with hubs.request():
            return await handler(request)

    return hub_scope


def _size_middleware(limit: int) -> Any:
    @web.middleware
    async def size(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > limit:
            return json_response(
                {"Message": f"Request body too large: the limit is {limit} bytes"}, status=413
            )
        return await handler(request)

    return size


def _read_only_middleware() -> Any:
    @web.middleware
    async def read_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD", "OPTIONS") and not request.path.startswith(DASHBOARD_PREFIX):
            return json_response(
                {"Message": "This server is read-only (taskhub serve --read-only)"}, status=403
            )
        return await handler(request)

    return read_only


def create_app(
    settings: Settings,
    *,
    orchestrator_names: frozenset[str] | None = None,
    key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    read_only: bool = False,
    rpc_unwrap: bool = True,
    allowed_hosts: frozenset[str] | None = None,
) -> web.Application:
    """The aiohttp application serving the management API under both prefixes, ``/openapi.json`` and
    the dashboard at ``/dashboard/``.

    ``orchestrator_names``: when given, starting any other name answers 400 (as Durable Functions does
    for an unknown function). ``key``: when given, every request must carry it (the dashboard takes it
    once and keeps a cookie); shorter than ``MIN_KEY_LENGTH``: ValueError. ``read_only``: every change
    (API and dashboard) answers 403. ``rpc_unwrap``: take the Python SDK's double-encoded bodies on
    ``/durabletask/`` apart once (for orchestrators of this project's API); ``taskhub func start`` keeps
    them as the extension stores them. ``allowed_hosts``: more ``Host`` names to answer to than loopback
    and the address a connection arrives on (default: the ``TASKHUB_ALLOWED_HOSTS`` setting).
    """
    if key:
        check_key(key)
    install_log_filter(key)
    hosts = allowed_hosts if allowed_hosts is not None else allowed_hosts_from()
    hubs = HubClients(settings)
    middlewares = [
        _errors_middleware(),
        front_door(hosts),
        *([_auth_middleware(key)] if key else []),
        _size_middleware(max_body_bytes),
        *([_read_only_middleware()] if read_only else []),
        _hubs_middleware(hubs),
        trace_middleware(),  # an incoming traceparent parents the spans a request starts
    ]
    app = web.Application(middlewares=middlewares, client_max_size=max_body_bytes)
    client_for = hubs.client

    async def close_clients(_: web.Application) -> None:
        await hubs.close()

    app.on_cleanup.append(close_clients)
    api = ManagementApi(
        client_for,
        default_hub=settings.hub_name,
        orchestrator_names=orchestrator_names,
        connection_name=settings.storage.connection_name,
        code=None,
    )
    app.add_routes(api.routes(WEBHOOK_PREFIX))
    app.add_routes(api.routes(RPC_PREFIX, sdk_encoded=rpc_unwrap))
    entity_api = EntityApi(client_for)  # entities.md 5
    app.add_routes(entity_api.routes(WEBHOOK_PREFIX))
    app.add_routes(entity_api.routes(RPC_PREFIX, sdk_encoded=rpc_unwrap))
    app.add_routes(scale_routes(client_for, WEBHOOK_PREFIX))  # docs/observability.md
    document = openapi_document()

    async def openapi(_: web.Request) -> web.Response:
        return json_response(document)

    app.router.add_get("/openapi.json", openapi, allow_head=False)
    app.router.add_get(WEBHOOK_PREFIX + "/openapi.json", openapi, allow_head=False)
    app[MANAGEMENT_API] = api
    app[HUB_CLIENTS] = hubs

    async def stop_waiting(_: web.Application) -> None:
        api.stopping.set()  # start-and-wait requests answer 202 now instead of polling on

    app.on_shutdown.append(stop_waiting)
    app[CLIENT_FOR] = client_for
    mount(
        app,
        dashboard_app(
            client_for,
            default_hub=settings.hub_name,
            key=key,
            read_only=read_only,
            orchestrator_names=orchestrator_names,
        ),
    )
    return app


async def start_site(
    app: web.Application, host: str, port: int, *, connection_timeout: float = CONNECTION_TIMEOUT
) -> web.AppRunner:
    """Listen on ``host:port`` and return the runner (``await runner.cleanup()`` stops it). A port in
    use or any other bind failure is a one-line ValueError naming the address and ``--port``.
    ``connection_timeout``: seconds to send a request's headers, and to stay idle between requests."""
    install_log_filter()
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=connection_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        if err.errno == errno.EADDRINUSE:
            raise ValueError(
                f"port {port} on {host} is already in use (another taskhub serve or func host?); "
                "stop it or choose another port with --port"
            ) from None
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    return runner
