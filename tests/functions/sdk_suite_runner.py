"""Drives every orchestrator of the SDK's own test suite (shipped in its wheel) through this host.

Run in a subprocess by ``test_sdk_suite.py`` with the wheel's ``tests`` package importable (it would
clash with this project's). Each orchestrator runs episode after episode on ``worker.engine.episode``: activities
answer ``"Hello <input>!"``, timers fire when due, sub-orchestrations and entity calls answer, and an
awaited external event is raised. Prints one JSON line per orchestrator: its outcome and the failure text.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df

from taskhub.format.entities import RequestMessage
from taskhub.format.history import (
    EventRaisedEvent,
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationInstance,
    SubOrchestrationInstanceCompletedEvent,
    TaskCompletedEvent,
    TaskScheduledEvent,
    TimerFiredEvent,
)
from worker.engine.episode import run_episode
from worker.functions.app import FunctionsApp
from worker.functions.history_json import orchestrator_context
from worker.functions.reply import invoke_orchestrator
from worker.functions.shim import FunctionNames, SdkOrchestrator

MODULES = [
    "test_sequential_orchestrator",
    "test_sequential_orchestrator_with_retry",
    "test_sequential_orchestrator_custom_status",
    "test_fan_out_fan_in",
    "test_create_timer",
    "test_external_event",
    "test_task_any",
    "test_sub_orchestrator",
    "test_sub_orchestrator_with_retry",
    "test_continue_as_new",
    "test_entity",
    "test_retries",
    "test_is_replaying_flag",
    "test_is_replaying_without_is_played",
    "test_serialization",
    "test_expected_type",
    "test_call_http",
]
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class AnyName(FunctionNames):
    def __init__(self) -> None:
        super().__init__([], [], [])

    def check(self, kind: str, name: Any, caller: str) -> str:
        return str(name)


def pending_events(fn: Any, past: list[HistoryEvent]) -> list[str]:
    reply = invoke_orchestrator(df.Orchestrator.create(fn), orchestrator_context("inst", past, []))
    names: list[str] = []

    def walk(actions: list[dict[str, Any]]) -> None:
        for a in actions:
            if a.get("actionType") == 6:
                names.append(a["externalEventName"])
            walk(a.get("compoundActions") or [])

    for batch in reply.actions:
        walk(batch)
    return names


def simulate(fn: Any) -> dict[str, Any]:
    app = FunctionsApp()
    app.orchestrator(name="orch")(SdkOrchestrator("orch", df.Orchestrator.create(fn), AnyName()))
    counter = itertools.count(1)
    guid = lambda: f"{next(counter):032x}"  # noqa: E731
    now = T0
    start = ExecutionStartedEvent(
        orchestration_instance=OrchestrationInstance("inst", "e1"),
        name="orch",
        version="",
        input='"\\"Tokyo\\""',
        timestamp=now,
    )
    history: list[HistoryEvent] = []
    incoming: list[HistoryEvent] = [start]
    raised: set[str] = set()
    for _ in range(60):
        ep = run_episode(
            app, instance_id="inst", past_events=history, incoming_events=incoming, now=now, new_guid=guid
        )
        history = list(ep.history) if ep.continued_as_new else [*history, *ep.history]
        if ep.runtime_status.name in ("COMPLETED", "FAILED", "TERMINATED"):
            details = ep.failure_details
            return {"status": ep.runtime_status.name, "message": details.message if details else None}
        incoming, timers = [], []
        for out in ep.outbound:
            event = out.event
            if out.kind == "activity" and isinstance(event, TaskScheduledEvent):
                arg = json.loads(event.input or "[null]")[0]
                incoming.append(
                    TaskCompletedEvent(task_scheduled_id=event.event_id, result=json.dumps(f"Hello {arg}!"))
                )
            elif out.kind == "timer" and isinstance(event, TimerFiredEvent):
                timers.append(event)
            elif isinstance(event, ExecutionStartedEvent) and event.parent_instance is not None:
                incoming.append(
                    SubOrchestrationInstanceCompletedEvent(
                        task_scheduled_id=event.parent_instance.task_schedule_id, result='"child"'
                    )
                )
            elif isinstance(event, EventRaisedEvent) and event.name == "op":
                request = RequestMessage.from_json(event.input)
                if not request.signal:
                    incoming.append(EventRaisedEvent(name=request.id, input=json.dumps({"result": "1"})))
        if not incoming and timers:
            due = min(t.fire_at for t in timers if t.fire_at is not None)
            now = max(now, due)
            incoming = [t for t in timers if t.fire_at == due]
        if not incoming:
            names = [n for n in pending_events(fn, history) if n not in raised]
            raised.update(names)
            incoming = [EventRaisedEvent(name=n, input=json.dumps(json.dumps(n))) for n in names]
        if not incoming:
            return {"status": "WAITING", "message": None}
        now = now + timedelta(seconds=1)
    return {"status": "TOO_LONG", "message": None}


def main() -> None:
    for module_name in MODULES:
        module = importlib.import_module(f"tests.orchestrator.{module_name}")
        for name, fn in sorted(vars(module).items()):
            if not inspect.isgeneratorfunction(fn) or fn.__module__ != module.__name__:
                continue
            if list(inspect.signature(fn).parameters) != ["context"]:
                continue
            try:
                outcome = simulate(fn)
            except Exception as exc:  # the host itself broke: reported, and the test fails
                outcome = {"status": "HOST_ERROR", "message": f"{type(exc).__name__}: {exc}"}
            print(json.dumps({"orchestrator": f"{module_name}.{name}", **outcome}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
