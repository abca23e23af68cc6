"""Orchestrations the dashboard tests run on a real worker: a fan-out, a retried activity, a timer, an
external event, a sub-orchestration, one that waits forever (to steer) and one that fails."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from taskhub.model.entities import EntityContext
from taskhub.model.tasks import RetryPolicy, when_all

app = App()
_attempts: Counter[str] = Counter()


@app.activity
def echo(ctx: ActivityContext, value: Any) -> Any:
    return value


@app.activity
def flaky(ctx: ActivityContext, value: Any) -> Any:
    """Fails on its first two attempts per orchestration, then succeeds."""
    _attempts[ctx.orchestration_id] += 1
    if _attempts[ctx.orchestration_id] < 3:
        raise RuntimeError(f"attempt {_attempts[ctx.orchestration_id]} failed on purpose")
    return value


@app.activity
def broken(ctx: ActivityContext, value: Any) -> Any:
    raise ValueError(f"broken activity got {value!r}")


@app.orchestrator
def showcase(ctx: OrchestrationContext, n: int):  # type: ignore[no-untyped-def]
    """Fan-out of ``n``, a retried activity, a 1 s timer, then the external event ``go``."""
    results = yield when_all([ctx.call_activity(echo, input=i) for i in range(n)])
    retry = RetryPolicy(first_retry_interval=timedelta(milliseconds=200), max_number_of_attempts=4)
    yield ctx.call_activity(flaky, input="x", retry_policy=retry)
    yield ctx.create_timer(timedelta(seconds=1))
    ctx.set_custom_status({"waiting": "go"})
    go = yield ctx.wait_for_external_event("go")
    return {"sum": sum(results), "go": go}


@app.orchestrator
def chain(ctx: OrchestrationContext, value: Any):  # type: ignore[no-untyped-def]
    a = yield ctx.call_activity(echo, input=value)
    b = yield ctx.call_activity(echo, input=a)
    return b


@app.orchestrator
def parent(ctx: OrchestrationContext, value: Any):  # type: ignore[no-untyped-def]
    return (yield ctx.call_sub_orchestrator(chain, input=value))


@app.orchestrator
def waiter(ctx: OrchestrationContext, value: Any):  # type: ignore[no-untyped-def]
    """Waits for ``approve`` (steered by the action tests)."""
    ctx.set_custom_status({"stage": "waiting for approve", "value": value})
    answer = yield ctx.wait_for_external_event("approve")
    return {"answer": answer, "value": value}


@app.orchestrator
def failing(ctx: OrchestrationContext, value: Any):  # type: ignore[no-untyped-def]
    return (yield ctx.call_activity(broken, input=value))


@app.entity
def tally(ctx: EntityContext, amount: Any) -> Any:
    """An entity for the entities view: ``add`` an amount, ``get`` the total."""
    if ctx.operation_name == "add":
        ctx.set_state(ctx.get_state(0) + amount)
    return ctx.get_state(0)
