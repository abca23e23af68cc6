"""``tests.newcomer.apps`` after a change: ``plus_one`` renamed to ``add_one`` in ``flaky_chain``."""

from __future__ import annotations

from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext

app = App()


@app.activity
def add_one(ctx: ActivityContext, x: int) -> int:
    return x + 1


@app.activity
def flaky(ctx: ActivityContext, x: int) -> int:
    return x * 10


@app.orchestrator
def flaky_chain(ctx: OrchestrationContext, x: int):  # type: ignore[no-untyped-def]
    a = yield ctx.call_activity("add_one", input=x)
    b = yield ctx.call_activity("flaky", input=a)
    return (yield ctx.call_activity("add_one", input=b))
