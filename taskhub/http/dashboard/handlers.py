"""The dashboard's request handlers: read the hub through the client (and ``taskhub.hub.health`` for
queues and leases), hand plain values to the page renderers, and answer forms with a redirect."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from importlib import resources
from typing import Any

from aiohttp import web

from taskhub.client.async_client import TaskHubClient
from taskhub.client.status import OrchestrationState
from taskhub.errors import (
    OrchestrationAlreadyExistsError,
    OrchestrationNotFoundError,
    OrchestrationStateError,
    StorageError,
)
from taskhub.format.history import HistoryEvent, utcnow
from taskhub.format.messages import event_to_json_obj
from taskhub.http.dashboard import actions
from taskhub.http.dashboard.filters import ListFilter, select_page
from taskhub.http.dashboard.folding import waiting_on
from taskhub.http.dashboard.instance_page import InstanceView, render_instance
from taskhub.http.dashboard.layout import PREFIX, Frame, error_page
from taskhub.http.dashboard.list_page import instance_link, render_list
from taskhub.http.dashboard.markup import href, parse_zone
from taskhub.http.dashboard.other_pages import (
    Job,
    render_bulk_confirm,
    render_confirm,
    render_health,
    render_job,
    render_start,
)
from taskhub.http.dashboard.security import CSRF_KEY, see_other
from taskhub.http.hubs import UnknownHubError
from taskhub.hub.health import list_hubs, queued_for_instance, read_health
from taskhub.hub.history_view import load_history_for_view

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
        self.jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._hubs: tuple[float, list[str]] = (0.0, [])
        self._histories: OrderedDict[tuple[str, str], tuple[tuple[Any, Any], list[HistoryEvent]]] = (
            OrderedDict()
        )
        self._static = {
            name: (resources.files(__package__).joinpath("static", name).read_bytes(), ctype)
            for name, ctype in _STATIC.items()
        }

    def routes(self) -> list[web.RouteDef]:
        p = ""  # relative to the sub-application's prefix, PREFIX
        return [
            web.get(p + "/", self.index, allow_head=False),
            web.get(p + "/health", self.health, allow_head=False),
            web.get(p + "/start", self.start_form, allow_head=False),
            web.post(p + "/start", self.start),
            web.get(p + "/bulk/{action}", self.bulk_confirm, allow_head=False),
            web.post(p + "/bulk/{action}", self.bulk),
            web.get(p + "/jobs/{job}", self.job, allow_head=False),
            web.get(p + "/login", self.redirect_home, allow_head=False),
            web.post(p + "/login", self.redirect_home),
            web.get(p + "/static/{name}", self.static, allow_head=False),
            web.get(p + "/instances/{instanceId}", self.instance, allow_head=False),
            web.get(p + "/instances/{instanceId}/history.json", self.history_json, allow_head=False),
            web.get(p + "/instances/{instanceId}/{action}", self.confirm, allow_head=False),
            web.post(p + "/instances/{instanceId}/{action}", self.act),
        ]

    # -- shared ------------------------------------------------------------------------------------

    async def _client(self, request: web.Request) -> TaskHubClient:
        return await self.client_for(request.query.get("taskHub") or None)

    async def hubs(self, client: TaskHubClient) -> list[str]:
        at, hubs = self._hubs
        if time.monotonic() - at > _HUBS_TTL:
            try:
                hubs = await list_hubs(client.hub.storage)
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
        view = InstanceView(state, events, waiting_on(events), can_rewind=actions.can_rewind(client))
        view.types = set(request.query.getall("type", []))
        view.done = request.query.get("done", "")
        raw_page = request.query.get("hpage", "1")
        if not raw_page.isdigit():
            raise ValueError(f"hpage {raw_page!r} is not a page number")
        view.page = int(raw_page)
        if not state.runtime_status.is_terminal:
            view.queue, view.queue_depth, view.queued = await queued_for_instance(client.hub, iid)
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
        events = (await load_history_for_view(client.hub.tracking, state.instance_id)).events
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
        return html_response(render_health(frame, await read_health(client.hub)))

    # -- one instance's actions --------------------------------------------------------------------

    def _action(self, request: web.Request, client: TaskHubClient) -> str:
        action = request.match_info["action"]
        if action not in actions.ACTIONS or (action == "rewind" and not actions.can_rewind(client)):
            raise web.HTTPNotFound()
        return action

    async def confirm(self, request: web.Request) -> web.Response:
        iid = request.match_info["instanceId"]
        client = await self._client(request)
        action = self._action(request, client)
        state = await client.get_orchestration_state(iid, fetch_payloads=False)
        if state is None:
            raise OrchestrationNotFoundError(iid)
        frame = await self.frame(request, client)
        return html_response(render_confirm(frame, iid, state.runtime_status.value, action))

    async def act(self, request: web.Request) -> web.Response:
        iid = request.match_info["instanceId"]
        client = await self._client(request)
        action = self._action(request, client)
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        try:
            target = await actions.perform(client, action, iid, form)
        except (ValueError, OrchestrationStateError, OrchestrationAlreadyExistsError) as err:
            state = await client.get_orchestration_state(iid, fetch_payloads=False)
            frame = await self.frame(request, client)
            status = 400 if isinstance(err, ValueError) else 409
            page = render_confirm(
                frame,
                iid,
                state.runtime_status.value if state else "unknown",
                action,
                error=str(err),
                event_name=form.get("event", ""),
                event_data=form.get("data", ""),
                reason=form.get("reason", ""),
            )
            return html_response(page, status)
        frame = await self.frame(request, client)
        if target is None:
            return see_other(frame.link(PREFIX + "/"))
        return see_other(href(instance_link(frame, target), [("done", action)]))

    # -- start ---------------------------------------------------------------------------------------

    async def start_form(self, request: web.Request) -> web.Response:
        frame = await self.frame(request)
        return html_response(render_start(frame, names=sorted(self.orchestrator_names or [])))

    async def start(self, request: web.Request) -> web.Response:
        client = await self._client(request)
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        name, iid, data = (
            form.get("name", "").strip(),
            form.get("instance_id", "").strip(),
            form.get("input", ""),
        )
        try:
            if not name:
                raise ValueError("the orchestrator name is empty")
            if self.orchestrator_names is not None and name not in self.orchestrator_names:
                known = ", ".join(sorted(self.orchestrator_names)) or "(none)"
                raise ValueError(f"no orchestrator named {name!r}; registered: {known}")
            value = actions.parse_json_text(data, "the input")
            started = await client.schedule_new_orchestration(name, input=value, instance_id=iid or None)
        except (ValueError, TypeError, OrchestrationAlreadyExistsError) as err:
            frame = await self.frame(request, client)
            page = render_start(
                frame,
                error=str(err),
                name=name,
                instance_id=iid,
                data=data,
                names=sorted(self.orchestrator_names or []),
            )
            return html_response(page, 400 if not isinstance(err, OrchestrationAlreadyExistsError) else 409)
        frame = await self.frame(request, client)
        return see_other(href(instance_link(frame, started), [("done", "start")]))

    # -- bulk ------------------------------------------------------------------------------------------

    async def _bulk_targets(
        self, request: web.Request, query: Any
    ) -> tuple[str, list[OrchestrationState], int, bool, ListFilter]:
        action = request.match_info["action"]
        if action not in actions.BULK_ACTIONS:
            raise web.HTTPNotFound()
        f = ListFilter.parse(query, query.getall("status", []))
        client = await self.client_for(query.get("taskHub") or None)
        states, capped = await self.scan(client, f)
        matching = [s for s in states if f.matches(s)]
        return action, [s for s in matching if actions.eligible(action, s)], len(matching), capped, f

    async def bulk_confirm(self, request: web.Request) -> web.Response:
        action, targets, matched, capped, f = await self._bulk_targets(request, request.query)
        frame = await self.frame(request)
        params = [(k, str(v)) for k, v in f.params() if v not in (None, "")]
        return html_response(render_bulk_confirm(frame, action, params, matched, len(targets), capped=capped))

    async def bulk(self, request: web.Request) -> web.Response:
        form = await request.post()
        action, targets, _matched, _capped, f = await self._bulk_targets(request, form)
        client = await self.client_for(form.get("taskHub") or None)  # type: ignore[arg-type]
        reason = form.get("reason")
        job = Job(uuid.uuid4().hex, action, client.settings.hub_name, len(targets), utcnow())
        job.back = href(PREFIX + "/", f.params())
        self.jobs[job.id] = job
        task = asyncio.create_task(
            actions.run_job(
                client, job, [s.instance_id for s in targets], reason if isinstance(reason, str) else None
            )
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return see_other(
            href(f"{PREFIX}/jobs/{job.id}", [("taskHub", job.hub), ("tz", form.get("tz") or "")])
        )

    async def job(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job"])
        if job is None:
            raise OrchestrationNotFoundError(request.match_info["job"])
        return html_response(render_job(await self.frame(request), job))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
