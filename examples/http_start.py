"""The async HTTP API pattern: ``POST /api/orchestrators/{name}`` starts an orchestration and answers
202 Accepted with a ``Location`` to poll; the management API (``/runtime/webhooks/durabletask/...``)
answers 202 while it runs and 200 with the output when it is done.

Run it next to a worker::

    taskhub worker examples.all:app &
    python -m examples.http_start          # listens on 127.0.0.1:7071
    curl -si -X POST localhost:7071/api/orchestrators/chaining -H 'Content-Type: application/json' -d 5
"""

from __future__ import annotations

import json

from aiohttp import web

from examples.all import app as functions
from taskhub.config.settings import Settings
from taskhub.http import CLIENT_FOR, check_status_response, create_app


def build(settings: Settings) -> web.Application:
    """The management API plus the user's own ``HttpStart`` route."""
    app = create_app(settings, orchestrator_names=frozenset(functions.orchestrator_names))

    async def http_start(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in functions.orchestrator_names:
            return web.json_response({"Message": f"no orchestrator named {name!r}"}, status=404)
        raw = await request.read()
        try:
            data = json.loads(raw) if raw.strip() else None
        except ValueError:
            return web.json_response({"Message": "Invalid JSON content"}, status=400)
        client = await request.app[CLIENT_FOR](None)
        instance_id = await client.schedule_new_orchestration(name, input=data)
        return check_status_response(request, instance_id, hub_name=settings.hub_name)

    app.router.add_post("/api/orchestrators/{name}", http_start)
    return app


if __name__ == "__main__":  # pragma: no cover
    web.run_app(build(Settings.load()), host="127.0.0.1", port=7071)
