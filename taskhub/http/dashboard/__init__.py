"""The dashboard that ``taskhub serve`` serves at ``/dashboard/``: server-rendered pages to see and steer
every instance of a hub, with a timeline of each instance's history and the health of the hub's queues.

Pure page parts: ``markup`` (escaping, times, JSON), ``filters`` (the list's query-string state and
paging), ``folding`` (history rows, "waiting on"), ``timeline`` (the SVG), ``layout``, ``list_page``,
``instance_page``, ``other_pages``, ``entities_page``. On the request side: ``handlers`` (the reading
pages, through the client and its service's ``admin``), ``action_handlers`` (the forms) and
``entity_handlers``, ``actions`` (what the buttons do, bulk jobs) and ``security`` (key cookie,
CSRF, read-only, Content-Security-Policy). ``static/`` holds the one CSS file, the small script and the icon.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from taskhub.client.async_client import TaskHubClient
from taskhub.http.dashboard.action_handlers import ActionPages
from taskhub.http.dashboard.entity_handlers import EntityPages
from taskhub.http.dashboard.handlers import Dashboard
from taskhub.http.dashboard.layout import PREFIX
from taskhub.http.dashboard.security import Guard, without_code

__all__ = ["PREFIX", "dashboard_app", "mount", "Dashboard", "GUARD"]

GUARD: web.AppKey[Guard] = web.AppKey("dashboard_guard")


def dashboard_app(
    client_for: Callable[[str | None], Awaitable[TaskHubClient]],
    *,
    default_hub: str,
    key: str | None = None,
    read_only: bool = False,
    orchestrator_names: frozenset[str] | None = None,
) -> web.Application:
    """The dashboard as an aiohttp sub-application: ``app.add_subapp(PREFIX, dashboard_app(...))``.
    ``key``: required (once, then a cookie) from every browser; ``read_only``: no actions (403)."""
    dash = Dashboard(
        client_for, default_hub=default_hub, read_only=read_only, orchestrator_names=orchestrator_names
    )
    guard = Guard(
        key=key, read_only=read_only, forbidden=lambda request, message: dash.error(request, 403, message)
    )
    app = web.Application(middlewares=[guard.middleware(), dash.middleware()])
    app[GUARD] = guard
    forms = ActionPages(dash)
    app.add_routes(dash.routes())  # first: /instances/{instanceId}/history.json before .../{action}
    app.add_routes(forms.routes())
    app.add_routes(EntityPages(dash).routes())

    async def close(_: web.Application) -> None:
        await forms.close()

    app.on_cleanup.append(close)
    return app


def mount(app: web.Application, dashboard: web.Application) -> None:
    """Serve ``dashboard`` at ``/dashboard/`` in ``app`` (``/dashboard`` redirects there, taking a
    ``?code=`` key out of the URL)."""
    guard = dashboard[GUARD]

    async def to_slash(request: web.Request) -> web.Response:
        target = without_code(request.rel_url.with_path(PREFIX + "/").with_query(request.rel_url.query))
        return guard.take_key(request, target)

    app.router.add_get(PREFIX, to_slash, allow_head=False)
    app.add_subapp(PREFIX, dashboard)
