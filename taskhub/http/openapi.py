"""The OpenAPI 3 description of the management API (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from taskhub.format.entities import MAX_ENTITY_KEY, MAX_ENTITY_NAME, MAX_OPERATION_NAME
from taskhub.format.history import OrchestrationStatus
from taskhub.http.urls import WEBHOOK_PREFIX

__all__ = ["openapi_document"]

_NULLABLE_STRING = {"type": "string", "nullable": True}
_ANY: dict[str, Any] = {"nullable": True}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _empty(description: str) -> dict[str, Any]:
    return {"description": description}


def _q(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _path(name: str, description: str, max_length: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if max_length:
        schema["maxLength"] = max_length
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


_ERROR = {"$ref": "#/components/schemas/Error"}
_STATUS = {"$ref": "#/components/schemas/Status"}
_CHECK = {"$ref": "#/components/schemas/CheckStatus"}
_PURGED = {"$ref": "#/components/schemas/PurgeResult"}
_COMMON = {
    "400": _json(_ERROR, "Invalid argument (for example a taskHub name that is not a valid hub name)"),
    "401": _json(_ERROR, "A key is required (server bound to a non-loopback address)"),
    "403": _json(
        _ERROR,
        "A change requested by another web site (Origin or Sec-Fetch-Site), or a read-only server",
    ),
    "404": _json(_ERROR, "No task hub of that name (taskHub names only existing hubs)"),
    "413": _json(_ERROR, "Request body too large"),
    "415": _json(_ERROR, "A request body that is not Content-Type: application/json"),
    "421": _json(_ERROR, "The Host header names neither loopback, the server's address, nor an allowed host"),
    "503": _json(_ERROR, "The task hub's storage is not available"),
}
_HUB = _q(
    "taskHub",
    {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9]{2,44}$"},
    "Task hub name (default: the server's): an existing hub; letters and digits, starting with a letter, "
    "3-45 characters",
)
_INSTANCE = _path(
    "instanceId",
    "Instance id: 1-256 characters, not an entity's @name@key (see the entity routes), not . or ..",
    256,
)
_BOOL = {
    "type": "string",
    "description": ".NET bool.TryParse: true/false in any case; anything else = default",
}


def _op(
    summary: str, responses: dict[str, Any], params: list[dict[str, Any]], body: bool = False
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": [*params, _HUB],
        "responses": {**_COMMON, **responses},
    }
    if body:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": {}}}}
    return op


def _entity_paths(base: str) -> dict[str, Any]:
    """The entity routes (entities.md 5, http-api.md 2.9)."""
    entity = [
        _path("name", f"Entity name (lower-cased), at most {MAX_ENTITY_NAME} characters", MAX_ENTITY_NAME),
        _path("key", f"Entity key ($ = the empty key), at most {MAX_ENTITY_KEY} characters", MAX_ENTITY_KEY),
    ]
    listing = {
        "get": _op(
            "List entities (of one name)",
            {
                "200": _json(
                    {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "entityId": {
                                    "type": "object",
                                    "properties": {"name": {"type": "string"}, "key": {"type": "string"}},
                                },
                                "lastOperationTime": _NULLABLE_STRING,
                                "state": _ANY,
                            },
                        },
                    },
                    "A page of entities; the next page's token is in x-ms-continuation-token",
                )
            },
            [
                _q("fetchState", _BOOL, "Include each entity's state"),
                _q("top", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size"),
                _q(
                    "lastOperationTimeFrom",
                    {"type": "string", "format": "date-time"},
                    "Last operation at or after",
                ),
                _q(
                    "lastOperationTimeTo",
                    {"type": "string", "format": "date-time"},
                    "Last operation at or before",
                ),
            ],
        )
    }
    return {
        f"{base}/entities": listing,
        f"{base}/entities/{{name}}": {
            "get": {**listing["get"], "parameters": [entity[0], *listing["get"]["parameters"]]}
        },
        f"{base}/entities/{{name}}/{{key}}": {
            "get": _op(
                "Read an entity's state",
                {"200": _json({}, "The state (JSON)"), "404": _empty("The entity does not exist")},
                entity,
            ),
            "post": _op(
                "Signal an operation (the body, if any, is its input)",
                {"202": _empty("Accepted")},
                [
                    *entity,
                    _q(
                        "op",
                        {"type": "string", "minLength": 1, "maxLength": MAX_OPERATION_NAME},
                        f"Operation name, at most {MAX_OPERATION_NAME} characters",
                        required=True,
                    ),
                ],
                True,
            ),
            "delete": _op("Signal the operation 'delete'", {"202": _empty("Accepted")}, entity),
        },
    }


def openapi_document() -> dict[str, Any]:
    base = WEBHOOK_PREFIX
    statuses = [s.value for s in OrchestrationStatus]
    start_responses = {
        "202": _json(_CHECK, "Started; poll statusQueryGetUri"),
        "200": _json({}, "With timeout: completed within it (the output) or finished otherwise (the status)"),
        "400": _json(_ERROR, "Unknown function, invalid instance id, or invalid JSON"),
        "409": _json(_ERROR, "An instance with this id is still Pending, Running or Suspended"),
    }
    wait = [
        _q("timeout", {"type": "number", "minimum": 0, "maximum": 3600}, "Wait up to this many seconds"),
        _q(
            "pollingInterval",
            {"type": "number", "minimum": 0, "maximum": 3600},
            "Seconds between status reads (default 1; less than 0.5 counts as 0.5; at most timeout)",
        ),
    ]
    version = _q("version", {"type": "string"}, "The instance's version (default: host.json defaultVersion)")
    instance_op = {
        "202": _empty("Accepted"),
        "404": _empty("No such instance"),
        "410": _empty("The instance has finished"),
    }
    paths: dict[str, Any] = {
        f"{base}/orchestrators/{{functionName}}": {
            "post": _op(
                "Start an orchestration",
                start_responses,
                [_path("functionName", "Orchestrator"), *wait, version],
                True,
            )
        },
        f"{base}/orchestrators/{{functionName}}/{{instanceId}}": {
            "post": _op(
                "Start an orchestration with a chosen instance id",
                start_responses,
                [_path("functionName", "Orchestrator"), _INSTANCE, *wait, version],
                True,
            )
        },
        f"{base}/instances": {
            "get": _op(
                "Query instances (page size `top`; continuation in x-ms-continuation-token)",
                {
                    "200": {
                        "description": "A page of statuses",
                        "headers": {"x-ms-continuation-token": {"schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": {"type": "array", "items": _STATUS}}},
                    },
                    "400": _json(_ERROR, "Invalid filter"),
                },
                [
                    _q("createdTimeFrom", {"type": "string", "format": "date-time"}, "Created at or after"),
                    _q("createdTimeTo", {"type": "string", "format": "date-time"}, "Created at or before"),
                    _q(
                        "runtimeStatus",
                        {"type": "string"},
                        f"Comma-separated, case-sensitive: {', '.join(statuses)}",
                    ),
                    _q("instanceIdPrefix", {"type": "string"}, "Instance id prefix"),
                    _q("showInput", _BOOL, "Include inputs (default true)"),
                    _q("top", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size (default 100)"),
                    {
                        "name": "x-ms-continuation-token",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "Token from the previous page",
                    },
                ],
            ),
            "delete": _op(
                "Purge finished instances created in a time range",
                {
                    "200": _json(_PURGED, "Purged"),
                    "400": _json(
                        {"oneOf": [{"type": "string"}, _ERROR]}, "createdTimeFrom is missing or invalid"
                    ),
                    "404": _empty("Nothing matched"),
                },
                [
                    _q("createdTimeFrom", {"type": "string", "format": "date-time"}, "Required"),
                    _q("createdTimeTo", {"type": "string", "format": "date-time"}, "Default: now"),
                    _q("runtimeStatus", {"type": "string"}, "Comma-separated"),
                ],
            ),
        },
        f"{base}/instances/{{instanceId}}": {
            "get": _op(
                "Status of an instance",
                {
                    "200": _json(_STATUS, "Finished"),
                    "202": {
                        "description": "Still running (Pending, Running, Suspended, ContinuedAsNew)",
                        "headers": {
                            "Location": {"schema": {"type": "string"}},
                            "Retry-After": {"schema": {"type": "string"}},
                        },
                        "content": {"application/json": {"schema": _STATUS}},
                    },
                    "404": _empty("No such instance"),
                    "500": _json(_STATUS, "Failed, with returnInternalServerErrorOnFailure=true"),
                },
                [
                    _INSTANCE,
                    _q("showHistory", _BOOL, "Include history (default false)"),
                    _q("showHistoryOutput", _BOOL, "Include outputs in the history (default false)"),
                    _q("showInput", _BOOL, "Include the input (default true)"),
                    _q(
                        "returnInternalServerErrorOnFailure",
                        _BOOL,
                        "500 for failed instances (default false)",
                    ),
                ],
            ),
            "delete": _op(
                "Purge an instance",
                {"200": _json(_PURGED, "Purged"), "404": _empty("No such instance")},
                [_INSTANCE],
            ),
        },
        f"{base}/instances/{{instanceId}}/raiseEvent/{{eventName}}": {
            "post": {
                **_op(
                    "Raise an external event",
                    {**instance_op, "400": _json(_ERROR, "Not application/json, or invalid JSON")},
                    [_INSTANCE, _path("eventName", "Event name")],
                ),
                "requestBody": {"required": False, "content": {"application/json": {"schema": {}}}},
            }
        },
        f"{base}/instances/{{instanceId}}/restart": {
            "post": _op(
                "Start the instance again with its original input",
                {
                    "202": _json(_CHECK, "Started"),
                    "200": _json({}, "With timeout: finished within it"),
                    "400": _json(_ERROR, "No such instance"),
                    "409": _json(_ERROR, "The id is still running"),
                },
                [
                    _INSTANCE,
                    _q("restartWithNewInstanceId", _BOOL, "New id (default true)"),
                    *wait,
                ],
            )
        },
    }
    for op in ("terminate", "suspend", "resume"):
        paths[f"{base}/instances/{{instanceId}}/{op}"] = {
            "post": _op(
                f"{op.capitalize()} an instance",
                instance_op,
                [_INSTANCE, _q("reason", {"type": "string"}, "Reason")],
            )
        }
    paths[f"{base}/instances/{{instanceId}}/rewind"] = {
        "post": _op(
            "Rewind a Failed instance: its failed activities and sub-orchestrations run again",
            {
                "202": _empty("Accepted: the instance is Pending and re-runs what failed"),
                "400": _json(_ERROR, "The instance is not Failed (Pending, Running, Suspended)"),
                "404": _empty("No such instance"),
                "410": _empty("The instance is Completed, Terminated or Canceled"),
            },
            [_INSTANCE, _q("reason", {"type": "string"}, "Reason")],
        )
    }
    paths.update(_entity_paths(base))
    url = {"type": "string"}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "taskhub management API",
            "version": "1.0",
            "description": "The Durable Functions HTTP management API, served by `taskhub serve`. The same routes "
            "are also served under /durabletask/ (the local RPC base of azure-functions-durable). JSON bodies "
            "must be JSON other readers can read back: no NaN or Infinity, no number beyond a double, no lone "
            "surrogate, at most 100 levels deep (400 otherwise).",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["Message"],
                    "properties": {
                        "Message": {"type": "string"},
                        "ExceptionMessage": {"type": "string"},
                        "ExceptionType": {"type": "string"},
                    },
                },
                "Status": {
                    "type": "object",
                    "required": ["name", "instanceId", "runtimeStatus", "createdTime", "lastUpdatedTime"],
                    "properties": {
                        "name": {"type": "string"},
                        "instanceId": {"type": "string"},
                        "runtimeStatus": {"type": "string", "enum": statuses},
                        "input": _ANY,
                        "customStatus": _ANY,
                        "output": _ANY,
                        "createdTime": _NULLABLE_STRING,
                        "lastUpdatedTime": _NULLABLE_STRING,
                        "version": {"type": "string"},
                        "historyEvents": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "CheckStatus": {
                    "type": "object",
                    "required": [
                        "id",
                        "statusQueryGetUri",
                        "sendEventPostUri",
                        "terminatePostUri",
                        "purgeHistoryDeleteUri",
                        "restartPostUri",
                        "suspendPostUri",
                        "resumePostUri",
                    ],
                    "properties": {
                        "id": url,
                        "statusQueryGetUri": url,
                        "sendEventPostUri": url,
                        "terminatePostUri": url,
                        "purgeHistoryDeleteUri": url,
                        "restartPostUri": url,
                        "suspendPostUri": url,
                        "resumePostUri": url,
                    },
                },
                "PurgeResult": {
                    "type": "object",
                    "required": ["instancesDeleted"],
                    "properties": {"instancesDeleted": {"type": "integer", "minimum": 0}},
                },
            }
        },
    }
