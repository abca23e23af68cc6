"""Management URLs and the check-status response of the async HTTP pattern (http-api.md 2.1).

``check_status_response(request, instance_id)`` is what a user's own start endpoint returns: 202 with
``Location`` and ``Retry-After`` headers and the payload of management URLs, built from the incoming
request's scheme and host, so a caller can poll ``statusQueryGetUri`` until the orchestration is done.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

__all__ = [
    "WEBHOOK_PREFIX",
    "RPC_PREFIX",
    "management_urls",
    "check_status_response",
    "json_response",
    "durable_client_binding",
]

WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
"""The Durable Functions management API's base path."""
RPC_PREFIX = "/durabletask"
"""The local RPC base path that azure-functions-durable's client calls (its ``rpcBaseUrl``)."""

RETRY_AFTER_START = "10"
RETRY_AFTER_STATUS = "5"


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with ``Content-Type: application/json; charset=utf-8`` as Durable Functions sends it."""
    return web.Response(
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        status=status,
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _suffix(hub_name: str, connection_name: str, code: str | None) -> str:
    query = {"taskHub": hub_name, "connection": connection_name}
    if code:
        query["code"] = code
    return urlencode(query)


def management_urls(
    origin: str,
    instance_id: str,
    *,
    hub_name: str,
    connection_name: str = "Storage",
    code: str | None = None,
    base_path: str = WEBHOOK_PREFIX,
) -> dict[str, str]:
    """The ``id`` and the seven management URLs of ``instance_id`` at ``origin`` (``scheme://host``),
    as the templates of http-api.md 2.1 build them."""
    base = origin.rstrip("/") + base_path
    iid = quote(instance_id, safe="")
    suffix = _suffix(hub_name, connection_name, code)
    instance = f"{base}/instances/{iid}"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{instance}?{suffix}",
        "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{suffix}",
        "terminatePostUri": f"{instance}/terminate?reason={{text}}&{suffix}",
        "purgeHistoryDeleteUri": f"{instance}?{suffix}",
        "restartPostUri": f"{instance}/restart?{suffix}",
        "suspendPostUri": f"{instance}/suspend?reason={{text}}&{suffix}",
        "resumePostUri": f"{instance}/resume?reason={{text}}&{suffix}",
    }


def check_status_response(
    request: web.Request,
    instance_id: str,
    *,
    hub_name: str,
    connection_name: str = "Storage",
    code: str | None = None,
    base_path: str = WEBHOOK_PREFIX,
) -> web.Response:
    """202 Accepted with ``Location`` (the status URL), ``Retry-After: 10`` and the management payload."""
    payload = management_urls(
        _origin(request),
        instance_id,
        hub_name=hub_name,
        connection_name=connection_name,
        code=code,
        base_path=base_path,
    )
    return json_response(
        payload,
        status=202,
        headers={"Location": payload["statusQueryGetUri"], "Retry-After": RETRY_AFTER_START},
    )


def durable_client_binding(
    base_url: str, hub_name: str, *, connection_name: str = "Storage", code: str | None = None
) -> str:
    """The client-binding JSON that azure-functions-durable's ``DurableOrchestrationClient(context)`` is
    built from, pointing at a ``taskhub serve`` listening at ``base_url`` (e.g. ``http://127.0.0.1:7071``)."""
    base = base_url.rstrip("/")
    suffix = _suffix(hub_name, connection_name, code)
    start = f"{base}{WEBHOOK_PREFIX}/orchestrators/{{functionName}}[/{{instanceId}}]?{suffix}"
    return json.dumps(
        {
            "taskHubName": hub_name,
            "creationUrls": {
                "createNewInstancePostUri": start,
                "createAndWaitOnNewInstancePostUri": start
                + "&timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}",
            },
            "managementUrls": management_urls(
                base, "INSTANCEID", hub_name=hub_name, connection_name=connection_name, code=code
            ),
            "rpcBaseUrl": f"{base}{RPC_PREFIX}/",
        }
    )
