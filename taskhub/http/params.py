"""Request parsing and error responses of the HTTP API: query parameters (case-insensitive names,
.NET-style booleans, ISO times, ``runtimeStatus`` lists), JSON bodies, instance ids and ``ApiError``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiDict

from taskhub.format.history import OrchestrationStatus
from taskhub.format.names import validate_instance_id
from taskhub.http.urls import json_response

__all__ = ["ApiError", "bool_param", "instance_id", "json_body", "query", "sdk_unwrap", "seconds", "statuses", "time_param"]

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error response: ``{"Message": ...}`` (plus ``ExceptionMessage`` for 400s, as DF sends them)."""

    def __init__(self, status: int, message: str, *, body: Any = None) -> None:
        self.status = status
        self.message = message
        self.body = body
        super().__init__(message)

    def response(self) -> web.Response:
        if self.body is not None:
            return json_response(self.body, status=self.status)
        body: dict[str, Any] = {"Message": self.message}
        if self.status == 400:
            body = {
                "Message": "One or more of the arguments submitted is incorrect",
                "ExceptionMessage": self.message,
                "ExceptionType": "System.ArgumentException",
            }
        return json_response(body, status=self.status)


def query(request: web.Request) -> MultiDict[str]:
    return MultiDict((k.lower(), v) for k, v in request.query.items())


def bool_param(q: MultiDict[str], name: str, default: bool) -> bool:
    value = q.get(name.lower())
    if value is None:
        return default
    v = value.strip().lower()
    return True if v == "true" else False if v == "false" else default


def time_param(q: MultiDict[str], name: str) -> datetime | None:
    value = q.get(name.lower())
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ApiError(400, f"{name} {value!r} is not an ISO 8601 date and time") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def seconds(q: MultiDict[str], name: str) -> float | None:
    value = q.get(name.lower())
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise ApiError(400, f"{name} {value!r} is not a number of seconds") from None
    if not 0 <= seconds <= 3600:
        raise ApiError(400, f"{name} must be between 0 and 3600 seconds, got {value}")
    return seconds


def statuses(q: MultiDict[str]) -> list[OrchestrationStatus] | None:
    names = {s.value: s for s in OrchestrationStatus}
    wanted: list[OrchestrationStatus] = []
    for raw in q.getall("runtimestatus", []):
        for part in raw.split(","):
            status = names.get(part.strip())
            if status is None:
                if part.strip():
                    log.info(
                        "http.ignored_runtime_status value=%r (names are case-sensitive: %s)",
                        part,
                        list(names),
                    )
                continue
            if status not in wanted:
                wanted.append(status)
    return wanted or None


async def json_body(request: web.Request, *, require_json_type: bool = False) -> Any:
    """The request's JSON body; None when empty. Invalid JSON -> 400 "Invalid JSON content"."""
    if require_json_type and request.content_type != "application/json":
        raise ApiError(400, "Only application/json request content is supported")
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Invalid JSON content") from None


def sdk_unwrap(data: Any) -> Any:
    """azure-functions-durable serializes inputs and event data itself, then posts that text as a JSON
    string (its orchestrators expect JSON *text* from the host). On the RPC prefix, which only that client
    calls, the body is therefore always a JSON string holding JSON: take the value it holds."""
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


def instance_id(raw: str) -> str:
    try:
        return validate_instance_id(raw)
    except ValueError as err:
        raise ApiError(400, str(err)) from None
