"""The entities view's handlers: a page of entities, one entity, and signalling it an operation
(through the client's ``query_entities``, ``get_entity`` and ``signal_entity``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from taskhub.client.async_client import TaskHubClient
from taskhub.errors import OrchestrationNotFoundError
from taskhub.http.dashboard.actions import parse_json_text
from taskhub.http.dashboard.entities_page import entity_link, render_entities, render_entity
from taskhub.http.dashboard.handlers import Dashboard, html_response
from taskhub.http.dashboard.markup import href
from taskhub.http.dashboard.security import see_other

__all__ = ["EntityPages"]

_PAGE = 50


class EntityPages:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/entities", self.index, allow_head=False),
            web.get("/entities/{entityId}", self.entity, allow_head=False),
            web.post("/entities/{entityId}", self.signal),
        ]

    async def _client(self, request: web.Request) -> TaskHubClient:
        return await self.dash.client_for(request.query.get("taskHub") or None)

    async def index(self, request: web.Request) -> web.Response:
        client = await self._client(request)
        name = request.query.get("name", "").strip().lower() or None
        after = request.query.get("after", "")
        page = await client.query_entities(name=name, page_size=_PAGE, continuation_token=after or None)
        frame = await self.dash.frame(request, client)
        return html_response(
            render_entities(frame, page.items, name=name or "", token=page.continuation_token, after=after)
        )

    async def _entity(self, client: Any, entity_id: str) -> Any:
        try:
            meta = await client.get_entity(entity_id)
        except ValueError as err:
            raise ValueError(f"{entity_id!r} is not an entity id ('@name@key'): {err}") from None
        if meta is None:
            raise OrchestrationNotFoundError(entity_id)
        return meta

    async def entity(self, request: web.Request) -> web.Response:
        client = await self._client(request)
        meta = await self._entity(client, request.match_info["entityId"])
        frame = await self.dash.frame(request, client)
        return html_response(render_entity(frame, meta, done=request.query.get("done") == "signal"))

    async def signal(self, request: web.Request) -> web.Response:
        client = await self._client(request)
        entity_id = request.match_info["entityId"]
        meta = await self._entity(client, entity_id)
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        operation, data = form.get("operation", "").strip(), form.get("input", "")
        frame = await self.dash.frame(request, client)
        try:
            if not operation:
                raise ValueError("the operation name is empty")
            await client.signal_entity(entity_id, operation, input=parse_json_text(data, "the input"))
        except (ValueError, TypeError) as err:
            page = render_entity(frame, meta, error=str(err), operation=operation, data=data)
            return html_response(page, 400)
        return see_other(href(entity_link(frame, entity_id), [("done", "signal")]))
