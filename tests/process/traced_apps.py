"""The App of the trace and metrics process tests: ``tests.process.traced_apps:app``.

With ``TASKHUB_TEST_SPANS=<file>`` in its environment, the worker process configures the OpenTelemetry
SDK at import, with a test-only exporter that appends each finished span to that file as one JSON line
(written at once, so a SIGKILLed process keeps what it emitted). The test assembles the trace from the
files of every process.

* ``traced``: activity ``hello``, activity ``slow_hello`` (sleeps ``TASKHUB_TEST_SLOW`` seconds, default
  0), sub-orchestration ``child`` (one activity), a 1 s timer, then ``add`` on entity ``counter``.
* ``fan_out``: ``n`` activities ``nap`` at once (each sleeps 0.2 s).
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from taskhub.model.entities import EntityContext, EntityId
from taskhub.model.tasks import when_all
from tests.otel_jsonl import SPANS_ENV, configure

SLOW_ENV = "TASKHUB_TEST_SLOW"

app = App()


if os.environ.get(SPANS_ENV):
    configure(os.environ[SPANS_ENV])


@app.orchestrator
def traced(ctx: OrchestrationContext, x: str):  # type: ignore[no-untyped-def]
    a = yield ctx.call_activity(hello, input=x)
    b = yield ctx.call_activity(slow_hello, input=x)
    c = yield ctx.call_sub_orchestrator(child, input=x)
    yield ctx.create_timer(timedelta(seconds=1))
    n = yield ctx.call_entity(EntityId("counter", "k"), "add", input=1)
    return [a, b, c, n]


@app.orchestrator
def child(ctx: OrchestrationContext, x: str):  # type: ignore[no-untyped-def]
    return (yield ctx.call_activity(hello, input=f"child {x}"))


@app.orchestrator
def fan_out(ctx: OrchestrationContext, n: int):  # type: ignore[no-untyped-def]
    results = yield when_all([ctx.call_activity(nap, input=i) for i in range(n)])
    return len(results)


@app.activity
def hello(ctx: ActivityContext, x: str) -> str:
    return f"hello {x}"


@app.activity
def slow_hello(ctx: ActivityContext, x: str) -> str:
    time.sleep(float(os.environ.get(SLOW_ENV) or 0))
    return f"slow hello {x}"


@app.activity
def nap(ctx: ActivityContext, i: int) -> int:
    time.sleep(0.2)
    return i


@app.entity
def counter(ctx: EntityContext, value: Any) -> Any:
    total = ctx.get_state(0) + (value or 0)
    ctx.set_state(total)
    return total
