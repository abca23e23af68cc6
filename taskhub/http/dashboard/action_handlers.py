"""The dashboard's form handlers: one instance's actions (confirm, then act), the start form and bulk
jobs over a filter. Each answers a form with a redirect, or the form again with the error (400/409)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web

from taskhub.client.status import OrchestrationState
from taskhub.errors import (
    OrchestrationAlreadyExistsError,
    OrchestrationNotFoundError,
    OrchestrationStateError,
)
from taskhub.format.history import utcnow
from taskhub.http.dashboard import actions
from taskhub.http.dashboard.filters import ListFilter
from taskhub.http.dashboard.handlers import Dashboard, html_response
from taskhub.http.dashboard.layout import PREFIX
from taskhub.http.dashboard.list_page import instance_link
from taskhub.http.dashboard.markup import href
from taskhub.http.dashboard.other_pages import (
    Job,
    render_bulk_confirm,
    render_confirm,
    render_job,
    render_start,
)
from taskhub.http.dashboard.security import see_other

__all__ = ["ActionPages"]


class ActionPages:
    """The forms of the dashboard ``dash``; ``jobs`` are the bulk jobs started here (kept in memory)."""

    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash
        self.jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/start", self.start_form, allow_head=False),
            web.post("/start", self.start),
            web.get("/bulk/{action}", self.bulk_confirm, allow_head=False),
            web.post("/bulk/{action}", self.bulk),
            web.get("/jobs/{job}", self.job, allow_head=False),
            web.get("/instances/{instanceId}/{action}", self.confirm, allow_head=False),
            web.post("/instances/{instanceId}/{action}", self.act),
        ]

    # -- one instance's actions --------------------------------------------------------------------

    def _action(self, request: web.Request) -> str:
        action = request.match_info["action"]
        if action not in actions.ACTIONS:
            raise web.HTTPNotFound()
        return action

    async def confirm(self, request: web.Request) -> web.Response:
        iid = request.match_info["instanceId"]
        client = await self.dash._client(request)
        action = self._action(request)
        state = await client.get_orchestration_state(iid, fetch_payloads=False)
        if state is None:
            raise OrchestrationNotFoundError(iid)
        frame = await self.dash.frame(request, client)
        return html_response(render_confirm(frame, iid, state.runtime_status.value, action))

    async def act(self, request: web.Request) -> web.Response:
        iid = request.match_info["instanceId"]
        client = await self.dash._client(request)
        action = self._action(request)
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        try:
            target = await actions.perform(client, action, iid, form)
        except (ValueError, OrchestrationStateError, OrchestrationAlreadyExistsError) as err:
            state = await client.get_orchestration_state(iid, fetch_payloads=False)
            frame = await self.dash.frame(request, client)
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
        frame = await self.dash.frame(request, client)
        if target is None:
            return see_other(frame.link(PREFIX + "/"))
        return see_other(href(instance_link(frame, target), [("done", action)]))

    # -- start ---------------------------------------------------------------------------------------

    async def start_form(self, request: web.Request) -> web.Response:
        frame = await self.dash.frame(request)
        return html_response(render_start(frame, names=sorted(self.dash.orchestrator_names or [])))

    async def start(self, request: web.Request) -> web.Response:
        client = await self.dash._client(request)
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        name, iid, data = (
            form.get("name", "").strip(),
            form.get("instance_id", "").strip(),
            form.get("input", ""),
        )
        try:
            if not name:
                raise ValueError("the orchestrator name is empty")
            if self.dash.orchestrator_names is not None and name not in self.dash.orchestrator_names:
                known = ", ".join(sorted(self.dash.orchestrator_names)) or "(none)"
                raise ValueError(f"no orchestrator named {name!r}; registered: {known}")
            value = actions.parse_json_text(data, "the input")
            started = await client.schedule_new_orchestration(name, input=value, instance_id=iid or None)
        except (ValueError, TypeError, OrchestrationAlreadyExistsError) as err:
            frame = await self.dash.frame(request, client)
            page = render_start(
                frame,
                error=str(err),
                name=name,
                instance_id=iid,
                data=data,
                names=sorted(self.dash.orchestrator_names or []),
            )
            return html_response(page, 400 if not isinstance(err, OrchestrationAlreadyExistsError) else 409)
        frame = await self.dash.frame(request, client)
        return see_other(href(instance_link(frame, started), [("done", "start")]))

    # -- bulk ------------------------------------------------------------------------------------------

    async def _bulk_targets(
        self, request: web.Request, query: Any
    ) -> tuple[str, list[OrchestrationState], int, bool, ListFilter]:
        action = request.match_info["action"]
        if action not in actions.BULK_ACTIONS:
            raise web.HTTPNotFound()
        f = ListFilter.parse(query, query.getall("status", []))
        client = await self.dash.client_for(query.get("taskHub") or None)
        states, capped = await self.dash.scan(client, f)
        matching = [s for s in states if f.matches(s)]
        return action, [s for s in matching if actions.eligible(action, s)], len(matching), capped, f

    async def bulk_confirm(self, request: web.Request) -> web.Response:
        action, targets, matched, capped, f = await self._bulk_targets(request, request.query)
        frame = await self.dash.frame(request)
        params = [(k, str(v)) for k, v in f.params() if v not in (None, "")]
        return html_response(render_bulk_confirm(frame, action, params, matched, len(targets), capped=capped))

    async def bulk(self, request: web.Request) -> web.Response:
        form = await request.post()
        action, targets, _matched, _capped, f = await self._bulk_targets(request, form)
        client = await self.dash.client_for(form.get("taskHub") or None)  # type: ignore[arg-type]
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
        return html_response(render_job(await self.dash.frame(request), job))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
