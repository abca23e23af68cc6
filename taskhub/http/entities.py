"""The entity routes of the Durable Functions HTTP API (entities.md 5, http-api.md 2.9), under both prefixes.

| request | answer |
|---|---|
| ``GET entities/{name}/{key}`` (``$`` = the empty key) | 200 with the state's JSON as the body; 404 when it does not exist |
| ``POST entities/{name}/{key}?op={op}`` | signal; no body: no input; ``application/json``: the JSON; any other type: the text as a JSON string. 202 |
| ``DELETE entities/{name}/{key}`` | signals ``delete``. 202 |
| ``GET entities[/{name}]?fetchState=&top=&lastOperationTimeFrom=&lastOperationTimeTo=`` | 200 ``[{"entityId": {"name", "key"}, "lastOperationTime", "state"}]``, continuation in ``x-ms-continuation-token`` |

On the RPC prefix (``/durabletask/``), which azure-functions-durable's client calls, a JSON body is a
JSON string holding the input's JSON (that SDK encodes inputs itself): it is unwrapped exactly one level.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from taskhub.client.async_client import TaskHubClient
from taskhub.format.entities import check_operation_name
from taskhub.format.timefmt import format_datetime
from taskhub.http.params import ApiError, bool_param, query, sdk_unwrap, strict_json, time_param
from taskhub.http.urls import json_response
from taskhub.model.entities import EntityId

__all__ = ["EntityApi"]

ClientFor = Callable[[str | None], Awaitable[TaskHubClient]]


def _entity(request: web.Request) -> EntityId:
    key = request.match_info["key"]
    try:
        return EntityId(request.match_info["name"], "" if key == "$" else key)
    except ValueError as err:
        raise ApiError(400, str(err)) from None


class EntityApi:
    """The entity route handlers; ``client_for(hub_name)`` gives the TaskHubClient of a hub."""

    def __init__(self, client_for: ClientFor) -> None:
        self.client_for = client_for

    def routes(self, prefix: str, *, sdk_encoded: bool = False) -> list[web.RouteDef]:
        p = prefix.rstrip("/")
        signal = self._signal_sdk if sdk_encoded else self.signal
        return [
            web.get(p + "/entities", self.query, allow_head=False),
            web.get(p + "/entities/{name}", self.query, allow_head=False),
            web.get(p + "/entities/{name}/{key}", self.read, allow_head=False),
            web.post(p + "/entities/{name}/{key}", signal),
            web.delete(p + "/entities/{name}/{key}", self.delete),
        ]

    async def _client(self, request: web.Request) -> TaskHubClient:
        return await self.client_for(query(request).get("taskhub") or None)

    async def read(self, request: web.Request) -> web.Response:
        entity = _entity(request)
        client = await self._client(request)
        meta = await client.get_entity(entity)
        if meta is None:
            return web.Response(status=404)
        return web.Response(
            body=(meta.serialized_state or "null").encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

    async def _signal_sdk(self, request: web.Request) -> web.Response:
        return await self.signal(request, unwrap=True)

    async def signal(self, request: web.Request, *, unwrap: bool = False) -> web.Response:
        entity = _entity(request)
        op = query(request).get("op")
        if not op:
            raise ApiError(400, "the query parameter 'op' (the operation name) is required")
        try:
            check_operation_name(op)
        except ValueError as err:
            raise ApiError(400, str(err)) from None
        raw = await request.read()
        value: Any = None
        if raw.strip():
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, "the body is not UTF-8 text") from None
            if request.content_type == "application/json":
                value = strict_json(text, invalid="Could not parse JSON content", detail=True)
                if unwrap:
                    value = sdk_unwrap(value)
            else:
                value = text
        client = await self._client(request)
        await client.signal_entity(entity, op, input=value)
        return web.Response(status=202)

    async def delete(self, request: web.Request) -> web.Response:
        client = await self._client(request)
        await client.signal_entity(_entity(request), "delete")
        return web.Response(status=202)

    async def query(self, request: web.Request) -> web.Response:
        q = query(request)
        top_raw = q.get("top")
        try:
            top = int(top_raw) if top_raw else 100
        except ValueError:
            raise ApiError(400, f"top {top_raw!r} is not a whole number") from None
        if not 1 <= top <= 1000:
            raise ApiError(400, f"top must be between 1 and 1000, got {top}")
        name = request.match_info.get("name")
        fetch = bool_param(q, "fetchState", False)
        client = await self._client(request)
        try:
            page = await client.query_entities(
                name=name,
                last_modified_from=time_param(q, "lastOperationTimeFrom"),
                last_modified_to=time_param(q, "lastOperationTimeTo"),
                include_state=fetch,
                page_size=top,
                continuation_token=request.headers.get("x-ms-continuation-token") or None,
            )
        except ValueError as err:
            raise ApiError(400, str(err)) from None
        body = [
            {
                "entityId": {"name": m.entity_id.name, "key": m.entity_id.key},
                "lastOperationTime": format_datetime(m.last_modified_at) if m.last_modified_at else None,
                **({"state": m.state} if fetch else {}),  # present only with fetchState (http-api.md 2.9)
            }
            for m in page.items
        ]
        return json_response(body, headers={"x-ms-continuation-token": page.continuation_token or ""})
