"""Our history -> the ``context`` string the SDK's orchestrator entry point takes (functions-host.md 1).

The Durable Functions extension sends the whole DTFx history of the execution, PascalCase, ``EventType``
as an int, past events played (``IsPlayed`` true) and the new batch not; ``input`` is the ExecutionStarted
input parsed once (``JToken.Parse``), so a double-encoded input from the Python client reaches the SDK as
the JSON text it serialized. The timer durations are the Azure Storage provider's (6 days / 3 days):
in-flight histories replay alike only with these values.

Events that arrive while the instance is suspended are moved after the ``ExecutionResumed`` that
releases them (and left out while it is still suspended), as our replay engine applies them, so the SDK
and the engine see the same order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from taskhub.format.history import (
    EventRaisedEvent,
    ExecutionResumedEvent,
    ExecutionStartedEvent,
    ExecutionSuspendedEvent,
    HistoryEvent,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceFailedEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TimerFiredEvent,
)
from taskhub.format.messages import event_to_json_obj

__all__ = ["orchestrator_context", "sdk_history", "MAXIMUM_SHORT_TIMER", "LONG_RUNNING_TIMER_INTERVAL"]

MAXIMUM_SHORT_TIMER = "6.00:00:00"
LONG_RUNNING_TIMER_INTERVAL = "3.00:00:00"
_UPPER_SCHEMA_VERSION = 1  # SchemaVersion.V2, as the extension sends it
_UPPER_SCHEMA_VERSION_NEW = 2  # SchemaVersion.V3: lets SDKs that know it split long timers
_HTTP_SLEEP_MS = 30000

_HELD_WHILE_SUSPENDED = (
    TaskCompletedEvent,
    TaskFailedEvent,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceFailedEvent,
    TimerFiredEvent,
    EventRaisedEvent,
)


def sdk_history(past: Sequence[HistoryEvent], new: Sequence[HistoryEvent]) -> list[tuple[HistoryEvent, bool]]:
    """The events in the order the SDK gets them, each with its ``IsPlayed`` flag."""
    out: list[tuple[HistoryEvent, bool]] = []
    held: list[tuple[HistoryEvent, bool]] = []
    suspended = False
    for played, events in ((True, past), (False, new)):
        for event in events:
            if isinstance(event, ExecutionSuspendedEvent):
                suspended = True
            elif isinstance(event, ExecutionResumedEvent) and suspended:
                suspended = False
                out.append((event, played))
                out.extend(held)
                held = []
                continue
            elif suspended and isinstance(event, _HELD_WHILE_SUSPENDED):
                held.append((event, played))
                continue
            out.append((event, played))
    return out


def _event_json(event: HistoryEvent, played: bool) -> dict[str, Any]:
    obj = event_to_json_obj(event, typed=False)
    obj["IsPlayed"] = played
    return obj


def _parse_input(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text  # not JSON: the SDK gets the text (and get_input() raises, as under the extension)


def orchestrator_context(instance_id: str, past: Sequence[HistoryEvent], new: Sequence[HistoryEvent]) -> str:
    """The JSON text of the orchestrator trigger's ``context`` for one episode."""
    events = sdk_history(past, new)
    started = next((e for e, _ in events if isinstance(e, ExecutionStartedEvent)), None)
    if started is None:
        raise ValueError(f"instance {instance_id!r}: no ExecutionStarted in the history")
    parent = started.parent_instance
    parent_id = (
        parent.orchestration_instance.instance_id
        if parent is not None and parent.orchestration_instance is not None
        else None
    )
    body = {
        "history": [_event_json(event, played) for event, played in events],
        "input": _parse_input(started.input),
        "instanceId": instance_id,
        "isReplaying": bool(events) and events[-1][1],
        "parentInstanceId": parent_id,
        "upperSchemaVersion": _UPPER_SCHEMA_VERSION,
        "upperSchemaVersionNew": _UPPER_SCHEMA_VERSION_NEW,
        "longRunningTimerIntervalDuration": LONG_RUNNING_TIMER_INTERVAL,
        "maximumShortTimerDuration": MAXIMUM_SHORT_TIMER,
        "defaultHttpAsyncRequestSleepTimeMillseconds": _HTTP_SLEEP_MS,
    }
    return json.dumps(body, ensure_ascii=False)
