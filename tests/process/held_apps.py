"""The App of the held-messages tests (``tests.process.held_apps:app``): slow fan-outs and a chain.

* ``slow_fan``: ``n`` activities of 3 s each at once (``three_seconds``), then the sum of their squares;
* ``two_steps``: ``add_one`` then ``add_one`` again (``x + 2``);
* ``big_fan``: ``n`` quick activities at once, then their sum (``n * (n - 1) / 2``).

Activities journal their runs like ``tests.process.apps`` (``TASKHUB_PROCESS_JOURNAL``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from taskhub.model.tasks import when_all
from tests.process.apps import _journal

app = App()


@app.orchestrator
def slow_fan(ctx: OrchestrationContext, n: int):  # type: ignore[no-untyped-def]
    values = yield when_all([ctx.call_activity(three_seconds, input=i) for i in range(n)])
    return sum(values)


@app.orchestrator
def two_steps(ctx: OrchestrationContext, x: int):  # type: ignore[no-untyped-def]
    x = yield ctx.call_activity(add_one, input=x)
    x = yield ctx.call_activity(add_one, input=x)
    return x


@app.orchestrator
def big_fan(ctx: OrchestrationContext, n: int):  # type: ignore[no-untyped-def]
    values = yield when_all([ctx.call_activity(identity, input=i) for i in range(n)])
    return sum(values)


@app.activity
async def three_seconds(ctx: ActivityContext, x: int) -> int:
    _journal(ctx)
    await asyncio.sleep(3.0)
    return x * x


@app.activity
def add_one(ctx: ActivityContext, x: int) -> int:
    _journal(ctx)
    return x + 1


@app.activity
async def identity(ctx: ActivityContext, x: int) -> int:
    return x


def expected(name: str, value: Any) -> Any:
    if name == "slow_fan":
        return sum(i * i for i in range(value))
    if name == "two_steps":
        return value + 2
    return value * (value - 1) // 2
