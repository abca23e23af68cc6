"""The dashboard's reading handlers: read the hub through the client (and its service's ``admin`` for
queues, leases and fast history reads) and hand plain values to the page renderers; the shared frame, error pages and error
middleware. The forms (actions, start, bulk jobs) are ``action_handlers``; the entities view is
``entity_handlers``."""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from importlib import resources
from typing import Any

from aiohttp import web

from taskhub.client.async_client import TaskHubClient
from taskhub.client.hubs import UnknownHubError
from taskhub.client.status import OrchestrationState
from taskhub.errors import (
    OrchestrationAlreadyExistsError,
    OrchestrationNotFoundError,
    OrchestrationStateError,
    StorageError,
)
from taskhub.format.history import HistoryEvent, utcnow
from taskhub.format.messages import event_to_json_obj
from taskhub.http.dashboard.filters import ListFilter, select_page
from taskhub.http.dashboard.folding import waiting_on
from taskhub.http.dashboard.instance_page import InstanceView, render_instance
from taskhub.http.dashboard.layout import PREFIX, Frame, error_page
from taskhub.http.dashboard.list_page import render_list
from taskhub.http.dashboard.markup import href, parse_zone
from taskhub.http.dashboard.other_pages import (
    render_health,
)
from taskhub.http.dashboard.security import CSRF_KEY, see_other

__all__ = ["Dashboard", "SCAN_CAP", "html_response"]

log = logging.getLogger(__name__)

ClientFor = Callable[[str | None], Awaitable[TaskHubClient]]

SCAN_CAP = 5000
"""Instances of one time window read at most for a list page (counts, sort and filters need them all)."""
_HUBS_TTL = 30.0
_HISTORY_CACHE = 8
"""Histories of finished instances kept in memory (the most recently viewed)."""
_STATIC = {"dashboard.css": "text/css", "dashboard.js": "text/javascript", "favicon.svg": "image/svg+xml"}


def html_response(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


class Dashboard:
    def __init__(
        self,
        client_for: ClientFor,
        *,
        default_hub: str,
        read_only: bool = False,
        orchestrator_names: frozenset[str] | None = None,
    ) -> None:
        self.client_for = client_for
        self.default_hub = default_hub
        self.read_only = read_only
        self.orchestrator_names = orchestrator_names
        self._hubs: tuple[float, list[str]] = (0.0, [])
        self._histories: OrderedDict[tuple[str, str], tuple[tuple[Any, Any], list[HistoryEvent]]] = (
            OrderedDict()
        )
        self._static = {
            name: (resources.files(__package__).joinpath("static", name).read_bytes(), ctype)
            for name, ctype in _STATIC.items()
        }

    def routes(self) -> list[web.RouteDef]:
        """The reading pages' routes (the actions' are :class:`~taskhub.http.dashboard.action_handlers.ActionPages`';
        register these first: ``history.json`` before ``{action}``)."""
        p = ""  # relative to the sub-application's prefix, PREFIX
        return [
            web.get(p + "/", self.index, allow_head=False),
            web.get(p + "/health", self.health, allow_head=False),
            web.get(p + "/login", self.redirect_home, allow_head=False),
            web.post(p + "/login", self.redirect_home),
            web.get(p + "/static/{name}", self.static, allow_head=False),
            web.get(p + "/instances/{instanceId}", self.instance, allow_head=False),
            web.get(p + "/instances/{instanceId}/history.json", self.history_json, allow_head=False),
        ]

    # -- shared ------------------------------------------------------------------------------------

    async def _client(self, request: web.Request) -> TaskHubClient:
        return await self.client_for(request.query.get("taskHub") or None)

    async def hubs(self, client: TaskHubClient) -> list[str]:
        at, hubs = self._hubs
        if time.monotonic() - at > _HUBS_TTL:
            try:
                hubs = await client.service.admin.list_hubs()
            except StorageError as err:
                log.warning("dashboard.list_hubs_failed error=%s", err)
                hubs = []
            self._hubs = (time.monotonic(), hubs)
        return hubs

    async def frame(self, request: web.Request, client: TaskHubClient | None = None) -> Frame:
        client = client or await self._client(request)
        return Frame(
            hub=client.settings.hub_name,
            hubs=await self.hubs(client),
            tz=parse_zone(request.query.get("tz")),
            csrf=request.get(CSRF_KEY) or "",
            read_only=self.read_only,
            path=request.path,
            query=list(request.query.items()),
        )

    def error(self, request: web.Request, status: int, message: str) -> str:
        """An error page (also used by the guard), falling back to UTC when ``?tz=`` is what is wrong."""
        try:
            tz = parse_zone(request.query.get("tz"))
        except ValueError:
            tz = parse_zone(None)
        frame = Frame(hub=request.query.get("taskHub") or self.default_hub, tz=tz, read_only=self.read_only)
        return error_page(frame, status, message)

    def middleware(self) -> Any:
        @web.middleware
        async def errors(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            try:
                return await handler(request)
            except web.HTTPNotFound:
                return html_response(
                    self.error(request, 404, f"There is no dashboard page at {request.path}."), 404
                )
            except web.HTTPException:
                raise
            except (OrchestrationNotFoundError, UnknownHubError) as err:
                return html_response(self.error(request, 404, str(err)), 404)
            except (OrchestrationStateError, OrchestrationAlreadyExistsError) as err:
                return html_response(self.error(request, 409, str(err)), 409)
            except ValueError as err:  # includes ConfigurationError (a bad ?taskHub=)
                return html_response(self.error(request, 400, str(err)), 400)
            except ConnectionResetError:
                raise  # the client went away: one line from the server's error middleware
            except StorageError as err:
                log.error("dashboard.storage_error path=%s error=%s", request.path, err)
                return html_response(
                    self.error(request, 503, "The task hub's storage is not available; try again."), 503
                )
            except Exception:
                log.exception("dashboard.unhandled method=%s path=%s", request.method, request.path)
                return html_response(
                    self.error(request, 500, "Something went wrong; the server log has the details."), 500
                )

        return errors

    # -- pages -------------------------------------------------------------------------------------

    async def redirect_home(self, request: web.Request) -> web.Response:
        return see_other(href(PREFIX + "/", list(request.query.items())))

    async def static(self, request: web.Request) -> web.Response:
        found = self._static.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found[0], content_type=found[1], headers={"Cache-Control": "max-age=300"})

    async def scan(self, client: TaskHubClient, f: ListFilter) -> tuple[list[OrchestrationState], bool]:
        created_from, created_to = f.window(utcnow())
        states: list[OrchestrationState] = []
        token: str | None = None
        while True:
            page = await client.query_orchestrations(
                created_from=created_from,
                created_to=created_to,
                instance_id_prefix=f.prefix or None,
                page_size=1000,
                continuation_token=token,
            )
            states += page.items
            token = page.continuation_token
            if not token or len(states) >= SCAN_CAP:
                return states[:SCAN_CAP], bool(token) or len(states) > SCAN_CAP

    def _filter(self, request: web.Request) -> ListFilter:
        return ListFilter.parse(request.query, request.query.getall("status", []))

    async def index(self, request: web.Request) -> web.Response:
        f = self._filter(request)
        client = await self._client(request)
        frame = await self.frame(request, client)
        f = replace(f, hub=frame.hub)
        states, capped = await self.scan(client, f)
        return html_response(render_list(frame, f, select_page(states, f, capped=capped), utcnow()))

    async def instance(self, request: web.Request) -> web.Response:
        iid = request.match_info["instanceId"]
        client = await self._client(request)
        frame = await self.frame(request, client)
        state = await client.get_orchestration_state(iid, fetch_payloads=True)
        if state is None:
            raise OrchestrationNotFoundError(iid)
        events = await self._history(client, state)
        view = InstanceView(state, events, waiting_on(events), can_rewind=True)
        view.types = set(request.query.getall("type", []))
        view.done = request.query.get("done", "")
        raw_page = request.query.get("hpage", "1")
        if not raw_page.isdigit():
            raise ValueError(f"hpage {raw_page!r} is not a page number")
        view.page = int(raw_page)
        if not state.runtime_status.is_terminal:
            view.queue, view.queue_depth, view.queued = await client.service.admin.queued_for(iid)
        raw = request.query.get("refresh")  # default: every 5 s while it runs; ?refresh=0 stops it
        refresh = (
            ListFilter.parse({"refresh": raw}, []).refresh
            if raw
            else 0
            if state.runtime_status.is_terminal
            else 5
        )
        return html_response(render_instance(frame, view, utcnow(), refresh=refresh))

    async def _history(self, client: TaskHubClient, state: OrchestrationState) -> list[HistoryEvent]:
        """The instance's events. A finished instance's history no longer changes, so the last few are
        kept (keyed by execution and last update): paging and filtering a long history reads it once."""
        key = (client.settings.hub_name.lower(), state.instance_id)
        stamp = (state.execution_id, state.last_updated_at)
        cached = self._histories.get(key)
        if cached is not None and cached[0] == stamp:
            self._histories.move_to_end(key)
            return cached[1]
        events = await client.service.admin.history_for_view(state.instance_id)
        if state.runtime_status.is_terminal:
            self._histories[key] = (stamp, events)
            while len(self._histories) > _HISTORY_CACHE:
                self._histories.popitem(last=False)
        return events

    async def history_json(self, request: web.Request) -> web.Response:
        iid = request.match_info["instanceId"]
        client = await self._client(request)
        events = await client.get_orchestration_history(iid)
        out = []
        for e in events:
            obj = event_to_json_obj(e, typed=False)
            obj["EventType"] = e.event_type.name
            out.append(obj)
        safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in iid)[:100] or "instance"
        return web.Response(
            body=json.dumps(out, ensure_ascii=False, indent=1).encode(),
            content_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{safe_name}-history.json"'},
        )

    async def health(self, request: web.Request) -> web.Response:
        client = await self._client(request)
        frame = await self.frame(request, client)
        return html_response(render_health(frame, await client.service.admin.health()))
