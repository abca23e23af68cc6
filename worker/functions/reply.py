"""The SDK's reply to an orchestrator invocation: ``OrchestratorState`` (functions-host.md 2).

``invoke_orchestrator(handle, context)`` calls the SDK's entry point. A failing orchestrator does not
return its state: the SDK raises an exception whose text ends with ``$OutOfProcData$:`` and the state
JSON, which the extension pulls out (``TryExtractOutOfProcStateJson``); so do we. The shape is checked
here, so that the shim only ever sees actions it understands.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskhub.errors import FunctionAppError

__all__ = ["SdkReply", "parse_reply", "invoke_orchestrator", "OUT_OF_PROC_DATA", "ACTION_TYPES"]

OUT_OF_PROC_DATA = "$OutOfProcData$:"

ACTION_TYPES = {
    0: "CallActivity",
    1: "CallActivityWithRetry",
    2: "CallSubOrchestrator",
    3: "CallSubOrchestratorWithRetry",
    4: "ContinueAsNew",
    5: "CreateTimer",
    6: "WaitForExternalEvent",
    7: "CallEntity",
    8: "CallHttp",
    9: "SignalEntity",
    10: "ScheduledSignalEntity",
    11: "WhenAny",
    12: "WhenAll",
}
_SCHEMA_NAMES = {"Original": 0, "V2": 1, "V3": 2}


@dataclass(frozen=True)
class SdkReply:
    """One ``OrchestratorState``; ``actions`` always as the list of lists the SDK sends."""

    is_done: bool
    actions: list[list[dict[str, Any]]]
    schema_version: int
    output: Any = None
    error: str | None = None
    custom_status: Any = None


def _schema(raw: Any) -> int:
    if raw is None:
        return 0
    if isinstance(raw, str) and raw in _SCHEMA_NAMES:
        return _SCHEMA_NAMES[raw]
    if isinstance(raw, int) and not isinstance(raw, bool) and raw in (0, 1, 2):
        return raw
    raise FunctionAppError(f"the SDK replied with schemaVersion {raw!r}; this host understands 0, 1 and 2")


def _check_action(action: Any, where: str) -> None:
    if not isinstance(action, dict):
        raise FunctionAppError(f"{where}: an action must be a JSON object, got {type(action).__name__}")
    kind = action.get("actionType")
    if kind not in ACTION_TYPES or isinstance(kind, bool):
        raise FunctionAppError(f"{where}: unknown actionType {kind!r} (known: 0-12)")
    if kind in (11, 12):
        children = action.get("compoundActions")
        if not isinstance(children, list):
            raise FunctionAppError(f"{where}: a {ACTION_TYPES[kind]} action needs compoundActions")
        for i, child in enumerate(children):
            _check_action(child, f"{where}.compoundActions[{i}]")


def parse_reply(text: str) -> SdkReply:
    """The reply for the JSON text of an ``OrchestratorState``; a bad shape raises FunctionAppError."""
    try:
        raw = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise FunctionAppError(f"the orchestrator's reply is not JSON ({exc}): {text!r:.200}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("isDone"), bool):
        raise FunctionAppError(f"the orchestrator's reply is not an OrchestratorState: {text!r:.200}")
    actions = raw.get("actions", [])
    if not isinstance(actions, list) or not all(isinstance(batch, list) for batch in actions):
        raise FunctionAppError("the orchestrator's reply: actions must be a list of lists")
    schema = _schema(raw.get("schemaVersion"))
    if schema > 0 and len(actions) != 1:
        raise FunctionAppError(
            f"the orchestrator's reply has {len(actions)} action lists; schema {schema} allows exactly one"
        )
    for b, batch in enumerate(actions):
        for a, action in enumerate(batch):
            _check_action(action, f"actions[{b}][{a}]")
    error = raw.get("error")
    return SdkReply(
        is_done=raw["isDone"],
        actions=actions,
        schema_version=schema,
        output=raw.get("output"),
        error=str(error) if error else None,
        custom_status=raw.get("customStatus"),
    )


def invoke_orchestrator(handle: Callable[[str], Any], context: str) -> SdkReply:
    """Call the SDK's orchestrator entry point with the ``context`` JSON text."""
    try:
        text = handle(context)
    except Exception as exc:
        message = str(exc)
        at = message.find(OUT_OF_PROC_DATA)
        if at < 0:
            raise
        reply = parse_reply(message[at + len(OUT_OF_PROC_DATA) :])
        if reply.error is None:  # the SDK always fills it in; keep the exception's text if not
            return SdkReply(
                reply.is_done,
                reply.actions,
                reply.schema_version,
                reply.output,
                message[:at].strip() or type(exc).__name__,
                reply.custom_status,
            )
        return reply
    if not isinstance(text, str):
        raise FunctionAppError(
            f"the orchestrator entry point returned {type(text).__name__}, not the OrchestratorState JSON "
            "text; is it wrapped by df.Orchestrator.create / @app.orchestration_trigger?"
        )
    return parse_reply(text)
