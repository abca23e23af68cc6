"""Function chaining: F1, F2, F3 and F4 run one after the other, each getting the previous output.

``chaining(5)`` computes ``F4(F3(F2(F1(5))))`` = ``((5 + 1) * 2 - 3) ** 2`` = 81. The steps are
order-sensitive on purpose, so a reordering would show in the result. F2 and F4 are ``async``
activities, F1 and F3 plain functions (run in a thread pool).
"""

from __future__ import annotations

from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext

app = App()


@app.orchestrator
def chaining(ctx: OrchestrationContext, value: int):  # type: ignore[no-untyped-def]
    x = yield ctx.call_activity(F1, input=value)
    x = yield ctx.call_activity(F2, input=x)
    x = yield ctx.call_activity(F3, input=x)
    return (yield ctx.call_activity(F4, input=x))


@app.activity
def F1(ctx: ActivityContext, x: int) -> int:
    return x + 1


@app.activity
async def F2(ctx: ActivityContext, x: int) -> int:
    return x * 2


@app.activity
def F3(ctx: ActivityContext, x: int) -> int:
    return x - 3


@app.activity
async def F4(ctx: ActivityContext, x: int) -> int:
    return x * x
