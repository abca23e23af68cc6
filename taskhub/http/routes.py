"""Handlers of the Durable Functions HTTP management API (http-api.md 2.1-2.8).

Served twice: under ``/runtime/webhooks/durabletask/`` (the documented API) and under ``/durabletask/``
(the local RPC base that azure-functions-durable's ``DurableOrchestrationClient`` calls). Query
parameter names match case-insensitively; booleans parse like .NET ``bool.TryParse``; ``runtimeStatus``
values are case-sensitive enum names and unknown ones are dropped, as Durable Functions does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from taskhub.client.async_client import TaskHubClient
from taskhub.client.status import OrchestrationState, history_projection
from taskhub.errors import OrchestrationAlreadyExistsError, OrchestrationStateError
from taskhub.format.history import OrchestrationStatus
from taskhub.http.params import (
    ApiError,
    bool_param,
    instance_id,
    json_body,
    polling_interval,
    query,
    sdk_unwrap,
    seconds,
    statuses,
    time_param,
)
from taskhub.http.urls import RETRY_AFTER_STATUS, check_status_response, json_response
from taskhub.model.versioning import validate_version

__all__ = ["ManagementApi", "ApiError"]

log = logging.getLogger(__name__)

ClientFor = Callable[[str | None], Awaitable[TaskHubClient]]

_RUNNING = (
    OrchestrationStatus.RUNNING,
    OrchestrationStatus.PENDING,
    OrchestrationStatus.CONTINUED_AS_NEW,
    OrchestrationStatus.SUSPENDED,
)
_FINISHED_410 = (
    OrchestrationStatus.COMPLETED,
    OrchestrationStatus.FAILED,
    OrchestrationStatus.TERMINATED,
    OrchestrationStatus.CANCELED,
)

_REWIND_410 = (OrchestrationStatus.COMPLETED, OrchestrationStatus.TERMINATED, OrchestrationStatus.CANCELED)


def _gone(request: web.Request) -> bool:
    """The client closed its connection."""
    return request.transport is None or request.transport.is_closing()


def _without_code(request: web.Request) -> str:
    """The request's URL without a ``code`` parameter (a Location must not carry the key)."""
    url = request.url
    return str(url.with_query([(k, v) for k, v in url.query.items() if k.lower() != "code"]))


class ManagementApi:
    """The route handlers; ``client_for(hub_name)`` gives the TaskHubClient of a hub (None = default)."""

    def __init__(
        self,
        client_for: ClientFor,
        *,
        default_hub: str,
        orchestrator_names: frozenset[str] | None = None,
        connection_name: str = "Storage",
        code: str | None = None,
    ) -> None:
        self.client_for = client_for
        self.default_hub = default_hub
        self.orchestrator_names = orchestrator_names
        self.connection_name = connection_name
        self.code = code
        self.stopping = asyncio.Event()
        """Set when the server stops: start-and-wait requests answer at once instead of polling on."""
        self.waiting = 0
        """Start-and-wait requests polling now."""

    def routes(self, prefix: str, *, sdk_encoded: bool = False) -> list[web.RouteDef]:
        """The routes under ``prefix``; ``sdk_encoded``: bodies come double-encoded from the Python SDK."""
        p = prefix.rstrip("/")
        start = self._start_sdk if sdk_encoded else self.start
        raise_event = self._raise_event_sdk if sdk_encoded else self.raise_event
        return [
            web.post(p + "/orchestrators/{functionName}", start),
            web.post(p + "/orchestrators/{functionName}/{instanceId}", start),
            web.get(p + "/instances", self.query, allow_head=False),
            web.get(p + "/instances/", self.query, allow_head=False),
            web.delete(p + "/instances", self.purge_by),
            web.delete(p + "/instances/", self.purge_by),
            web.get(p + "/instances/{instanceId}", self.status, allow_head=False),
            web.delete(p + "/instances/{instanceId}", self.purge_one),
            web.post(p + "/instances/{instanceId}/raiseEvent/{eventName}", raise_event),
            web.post(p + "/instances/{instanceId}/restart", self.restart),
            web.post(p + "/instances/{instanceId}/rewind", self.rewind),
            web.post(p + "/instances/{instanceId}/{operation:terminate|suspend|resume}", self.operation),
        ]

    # -- helpers ------------------------------------------------------------------------------------

    async def _client(self, request: web.Request) -> tuple[TaskHubClient, str]:
        hub = query(request).get("taskhub") or None
        client = await self.client_for(hub)
        return client, client.settings.hub_name

    def _check_status(self, request: web.Request, instance_id: str, hub: str) -> web.Response:
        return check_status_response(
            request, instance_id, hub_name=hub, connection_name=self.connection_name, code=self.code
        )

    async def _existing(
        self, client: TaskHubClient, instance_id: str, *, fetch: bool = False
    ) -> OrchestrationState:
        state = await client.get_orchestration_state(instance_id, fetch_payloads=fetch)
        if state is None:
            raise ApiError(404, f"no orchestration instance with id {instance_id!r}", body=None)
        return state

    async def _wait_response(
        self,
        request: web.Request,
        client: TaskHubClient,
        hub: str,
        iid: str,
        timeout: float,
        interval: float,
    ) -> web.Response:
        """The start-and-wait variant (http-api.md 2.3): read the status every ``interval`` seconds until
        it is final or ``timeout`` passes (202 check-status then), the client goes away, or the server
        stops (202 too)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.waiting += 1
        try:
            while True:
                state = await client.get_orchestration_state(iid)
                if (
                    state is not None
                    and state.runtime_status.is_terminal
                    and state.runtime_status is not OrchestrationStatus.CONTINUED_AS_NEW
                ):
                    if state.runtime_status is OrchestrationStatus.COMPLETED:
                        return json_response(state.output)
                    return json_response(state.to_dict())
                remaining = deadline - loop.time()
                if remaining <= 0 or self.stopping.is_set() or _gone(request):
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), min(interval, remaining))
                if _gone(request):
                    log.info("http.wait_abandoned instance_id=%s (the client went away)", iid)
                    break
        finally:
            self.waiting -= 1
        return self._check_status(request, iid, hub)

    # -- handlers -----------------------------------------------------------------------------------

    async def _start_sdk(self, request: web.Request) -> web.Response:
        return await self.start(request, unwrap=True)

    async def _raise_event_sdk(self, request: web.Request) -> web.Response:
        return await self.raise_event(request, unwrap=True)

    async def start(self, request: web.Request, *, unwrap: bool = False) -> web.Response:
        """POST orchestrators/{functionName}[/{instanceId}] -> 202 check-status payload."""
        name = request.match_info["functionName"]
        if self.orchestrator_names is not None and name not in self.orchestrator_names:
            known = ", ".join(sorted(self.orchestrator_names)) or "(none)"
            raise ApiError(
                400,
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                f"function. Registered orchestrators: {known}",
            )
        raw_id = request.match_info.get("instanceId")
        iid = instance_id(raw_id) if raw_id is not None else None
        data = await json_body(request)
        if unwrap:
            data = sdk_unwrap(data)
        q = query(request)
        timeout = seconds(q, "timeout")
        interval = polling_interval(q, timeout)
        version = q.get("version")
        if version is not None:
            try:
                version = validate_version(version)
            except ValueError as err:
                raise ApiError(400, str(err)) from None
        client, hub = await self._client(request)
        try:
            iid = await client.schedule_new_orchestration(name, input=data, instance_id=iid, version=version)
        except OrchestrationAlreadyExistsError as err:
            # Durable Functions lets this fall into its generic 500 path; a client mistake is a 409 here.
            raise ApiError(409, str(err)) from None
        if timeout is not None:
            return await self._wait_response(request, client, hub, iid, timeout, interval)
        return self._check_status(request, iid, hub)

    async def status(self, request: web.Request) -> web.Response:
        """GET instances/{id}: 202 while running, 200 when finished, 404 when unknown."""
        iid = instance_id(request.match_info["instanceId"])
        q = query(request)
        show_history = bool_param(q, "showHistory", False)
        show_history_output = bool_param(q, "showHistoryOutput", False)
        show_input = bool_param(q, "showInput", True)
        error_on_failure = bool_param(q, "returnInternalServerErrorOnFailure", False)
        client, _ = await self._client(request)
        state = await client.get_orchestration_state(iid, fetch_payloads=True)
        if state is None:
            return web.Response(status=404)
        body = state.to_dict(show_input=show_input)
        if show_history and state.runtime_status is not OrchestrationStatus.PENDING:
            events = await client.get_orchestration_history(iid)
            body["historyEvents"] = history_projection(
                events, show_output=show_history_output, show_input=show_input
            )
        if state.runtime_status in _RUNNING:
            return json_response(
                body,
                status=202,
                headers={"Location": _without_code(request), "Retry-After": RETRY_AFTER_STATUS},
            )
        if state.runtime_status is OrchestrationStatus.FAILED and error_on_failure:
            return json_response(body, status=500)
        return json_response(body)

    async def query(self, request: web.Request) -> web.Response:
        """GET instances: a page of statuses; the continuation token travels in x-ms-continuation-token."""
        q = query(request)
        top_raw = q.get("top")
        try:
            top = int(top_raw) if top_raw else 100
        except ValueError:
            raise ApiError(400, f"top {top_raw!r} is not a whole number") from None
        if not 1 <= top <= 1000:
            raise ApiError(400, f"top must be between 1 and 1000, got {top}")
        token = request.headers.get("x-ms-continuation-token") or None
        client, _ = await self._client(request)
        try:
            page = await client.query_orchestrations(
                created_from=time_param(q, "createdTimeFrom"),
                created_to=time_param(q, "createdTimeTo"),
                statuses=statuses(q),
                instance_id_prefix=q.get("instanceidprefix") or None,
                page_size=top,
                continuation_token=token,
            )
        except ValueError as err:  # a token this server did not issue
            raise ApiError(400, str(err)) from None
        show_input = bool_param(q, "showInput", True)
        return json_response(
            [s.to_dict(show_input=show_input) for s in page.items],
            headers={"x-ms-continuation-token": page.continuation_token or ""},
        )

    async def raise_event(self, request: web.Request, *, unwrap: bool = False) -> web.Response:
        """POST instances/{id}/raiseEvent/{eventName}: 202, 404 unknown, 410 finished."""
        iid = instance_id(request.match_info["instanceId"])
        event = request.match_info["eventName"]
        data = await json_body(request, require_json_type=True)
        if unwrap:
            data = sdk_unwrap(data)
        client, _ = await self._client(request)
        state = await client.get_orchestration_state(iid, fetch_payloads=False)
        if state is None:
            return web.Response(status=404)
        if state.runtime_status in _FINISHED_410:
            return web.Response(status=410)
        await client.raise_orchestration_event(iid, event, data=data)
        return web.Response(status=202)

    async def operation(self, request: web.Request) -> web.Response:
        """POST instances/{id}/terminate|suspend|resume?reason=: 202, 404 unknown, 410 finished."""
        iid = instance_id(request.match_info["instanceId"])
        op = request.match_info["operation"]
        reason = query(request).get("reason")
        client, _ = await self._client(request)
        state = await client.get_orchestration_state(iid, fetch_payloads=False)
        if state is None:
            return web.Response(status=404)
        if state.runtime_status in _FINISHED_410:
            return web.Response(status=410)
        if op == "terminate":
            await client.terminate_orchestration(iid, output=reason)
        elif op == "suspend":
            await client.suspend_orchestration(iid, reason=reason)
        else:
            await client.resume_orchestration(iid, reason=reason)
        return web.Response(status=202)

    async def rewind(self, request: web.Request) -> web.Response:
        """POST instances/{id}/rewind?reason=: 202, 404 unknown, 410 Completed/Terminated/Canceled,
        400 when not Failed (Durable Functions' client error: only failed instances can be rewound)."""
        iid = instance_id(request.match_info["instanceId"])
        reason = query(request).get("reason")
        client, _ = await self._client(request)
        state = await client.get_orchestration_state(iid, fetch_payloads=False)
        if state is None:
            return web.Response(status=404)
        if state.runtime_status in _REWIND_410:
            return web.Response(status=410)
        try:
            await client.rewind_orchestration(iid, reason=reason)
        except OrchestrationStateError as err:
            raise ApiError(400, str(err)) from None
        return web.Response(status=202)

    async def restart(self, request: web.Request) -> web.Response:
        """POST instances/{id}/restart[?restartWithNewInstanceId=]: start it again with its input."""
        iid = instance_id(request.match_info["instanceId"])
        q = query(request)
        new_id = bool_param(q, "restartWithNewInstanceId", True)
        timeout = seconds(q, "timeout")
        interval = polling_interval(q, timeout)
        client, hub = await self._client(request)
        state = await client.get_orchestration_state(iid, fetch_payloads=True)
        if state is None:
            raise ApiError(400, "InstanceId does not match a valid orchestration instance.")
        try:
            started = await client.schedule_new_orchestration(
                state.name, input=state.input, instance_id=None if new_id else iid
            )
        except OrchestrationAlreadyExistsError as err:
            raise ApiError(409, str(err)) from None
        if timeout is not None:
            return await self._wait_response(request, client, hub, started, timeout, interval)
        return self._check_status(request, started, hub)

    async def purge_one(self, request: web.Request) -> web.Response:
        """DELETE instances/{id}: 200 {"instancesDeleted": 1}, or 404."""
        iid = instance_id(request.match_info["instanceId"])
        client, _ = await self._client(request)
        result = await client.purge_orchestration(iid)
        if result.deleted_instance_count == 0:
            return web.Response(status=404)
        return json_response({"instancesDeleted": result.deleted_instance_count})

    async def purge_by(self, request: web.Request) -> web.Response:
        """DELETE instances?createdTimeFrom=...: 200 with the count, 404 when nothing was deleted."""
        q = query(request)
        created_from = time_param(q, "createdTimeFrom")
        if created_from is None:
            return json_response("Please provide value for 'createdTimeFrom' parameter.", status=400)
        client, _ = await self._client(request)
        result = await client.purge_orchestrations_by(
            created_from=created_from, created_to=time_param(q, "createdTimeTo"), statuses=statuses(q)
        )
        if result.deleted_instance_count == 0:
            return web.Response(status=404)
        return json_response({"instancesDeleted": result.deleted_instance_count})
