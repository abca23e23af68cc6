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

__all__ = [
    "ApiError",
    "bool_param",
    "instance_id",
    "json_body",
    "query",
    "sdk_unwrap",
    "seconds",
    "statuses",
    "strict_json",
    "time_param",
    "polling_interval",
    "MAX_JSON_DEPTH",
]

MAX_JSON_DEPTH = 100
"""Nesting levels of a JSON request body at most (objects and arrays)."""
MIN_POLLING_INTERVAL = 0.5
DEFAULT_POLLING_INTERVAL = 1.0

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
    dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        raise ApiError(400, f"{name} {value!r} is outside the years 1-9999 in UTC") from None


def seconds(q: MultiDict[str], name: str) -> float | None:
    value = q.get(name.lower())
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        raise ApiError(400, f"{name} {value!r} is not a number of seconds") from None
    if not 0 <= seconds <= 3600:
        raise ApiError(400, f"{name} must be between 0 and 3600 seconds, got {value}")
    return seconds


def polling_interval(q: MultiDict[str], timeout: float | None) -> float:
    """The start-and-wait polling interval: ``pollingInterval`` seconds (default 1), at most ``timeout``,
    raised to 0.5 s when smaller."""
    interval = seconds(q, "pollingInterval")
    if interval is None:
        return DEFAULT_POLLING_INTERVAL
    if timeout is not None and interval > timeout:
        raise ApiError(400, "pollingInterval must not be greater than timeout")
    return max(interval, MIN_POLLING_INTERVAL)


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


class _Refused(ValueError):
    """Valid to Python's json module, refused here: other JSON readers cannot read it back."""


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused(f"{text[:40]} is beyond the range of a JSON number (a double)")
    return value


def _check_tree(value: Any) -> None:
    """Depth and text checks of a parsed JSON value, without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8")  # a lone surrogate: UnicodeEncodeError
        elif isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ApiError(400, f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def strict_json(text: str | bytes, *, invalid: str = "Invalid JSON content", detail: bool = False) -> Any:
    """Parse JSON as strictly as other readers will: no NaN/Infinity, no numbers beyond a double, no
    lone surrogates, at most ``MAX_JSON_DEPTH`` levels. Anything else: ApiError 400 with a sentence
    (``invalid`` for a syntax error, followed by the parser's words when ``detail``)."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise ApiError(400, f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise ApiError(400, f"{invalid}: the body is not UTF-8 text") from None
    except _Refused as err:
        raise ApiError(400, f"{invalid}: {err}") from None
    except ValueError as err:  # a syntax error: Durable Functions' own words, with the detail if wanted
        raise ApiError(400, f"{invalid}: {str(err)[:200]}" if detail else invalid) from None
    try:
        _check_tree(value)
    except UnicodeEncodeError:
        raise ApiError(
            400, f"{invalid}: a string holds a lone surrogate (\\ud800-\\udfff) that is not text"
        ) from None
    return value


async def json_body(request: web.Request, *, require_json_type: bool = False) -> Any:
    """The request's JSON body (see ``strict_json``); None when empty. ``require_json_type``: any other
    Content-Type than ``application/json`` is a 400, as Durable Functions answers for raiseEvent."""
    if require_json_type and request.content_type != "application/json":
        raise ApiError(400, "Only application/json request content is supported")
    raw = await request.read()
    if not raw.strip():
        return None
    return strict_json(raw)


def sdk_unwrap(data: Any) -> Any:
    """azure-functions-durable serializes inputs and event data itself, then posts that text as a JSON
    string (its orchestrators expect JSON *text* from the host). On the RPC prefix, which only that client
    calls, the body is therefore always a JSON string holding JSON: take the value it holds."""
    if isinstance(data, str):
        try:
            json.loads(data)
        except (ValueError, RecursionError):
            return data
        return strict_json(data)
    return data


def instance_id(raw: str) -> str:
    """An instance id from a URL: valid (``validate_instance_id``), not an entity's (``@name@key``: the
    entity routes reach those), not ``.`` or ``..`` (a URL path would normalise them away)."""
    if raw.startswith("@"):
        raise ApiError(
            400,
            f"instance id {raw[:60]!r} is an entity's id: use the entity routes, "
            "e.g. POST entities/{name}/{key}?op=... or GET entities/{name}/{key}",
        )
    try:
        return validate_instance_id(raw)
    except ValueError as err:
        raise ApiError(400, str(err)) from None
