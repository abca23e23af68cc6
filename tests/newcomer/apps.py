"""Apps of the newcomer tests: an activity that fails once per instance, then succeeds."""

from __future__ import annotations

from typing import Any

from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext

app = App()
failed_once: set[str] = set()
"""Instances (or ``instance/key``) whose ``flaky`` activity already failed once (in this process)."""


@app.activity
def flaky(ctx: ActivityContext, x: int) -> int:
    key = ctx.orchestration_id
    if key not in failed_once:
        failed_once.add(key)
        raise RuntimeError(f"flaky fails the first time (instance {key})")
    return x * 10


@app.activity
def plus_one(ctx: ActivityContext, x: int) -> int:
    return x + 1


@app.orchestrator
def flaky_chain(ctx: OrchestrationContext, x: int):  # type: ignore[no-untyped-def]
    a = yield ctx.call_activity("plus_one", input=x)
    b = yield ctx.call_activity("flaky", input=a)
    return (yield ctx.call_activity("plus_one", input=b))


@app.orchestrator
def flaky_parent(ctx: OrchestrationContext, x: int):  # type: ignore[no-untyped-def]
    a = yield ctx.call_activity("plus_one", input=x)
    b = yield ctx.call_sub_orchestrator("flaky_chain", input=a, instance_id=ctx.instance_id + ":child")
    return {"child": b}


def expected_chain(x: int) -> int:
    return (x + 1) * 10 + 1


def ids(events: list[Any]) -> list[str]:
    return [e.event_type.name for e in events]


@app.orchestrator
def twice(ctx: OrchestrationContext, x: int):  # type: ignore[no-untyped-def]
    a = yield ctx.call_activity("plus_one", input=x)
    return (yield ctx.call_activity("plus_one", input=a))
