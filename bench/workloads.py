"""The orchestrators and activities the benchmark runs (``taskhub worker bench.workloads:app`` works too).

* ``HelloSequence5``: five sequential ``echo`` activities (W1).
* ``Sequence``: ``n`` sequential ``echo`` activities (W2).
* ``FanOutFanIn``: ``n`` ``echo`` activities at once, then their results summed (W3).
* ``W5Probe``: one ``mark_start`` activity that appends ``time.time()`` to a file (W5).
* ``BenchCounter`` (an entity) and ``CallCounter``: sequential ``add`` calls on one counter (E1, E2).
"""

from __future__ import annotations

import time
from typing import Any

from taskhub.model.app import App
from taskhub.model.tasks import when_all

app = App()

CITIES = ("Tokyo", "Seattle", "London", "Cairo", "Lima")


@app.activity
def echo(ctx: Any, value: Any) -> Any:
    return value


@app.activity
def mark_start(ctx: Any, path: str) -> float:
    """Record when this activity started (the first line of the file is the first start)."""
    now = time.time()
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{now!r}\n")
    return now


@app.orchestrator(name="HelloSequence5")
def hello_sequence5(ctx: Any, _: Any) -> Any:
    out = []
    for city in CITIES:
        out.append((yield ctx.call_activity(echo, input=f"Hello {city}!")))
    return out


@app.orchestrator(name="Sequence")
def sequence(ctx: Any, n: int) -> Any:
    total = 0
    for i in range(n):
        total += yield ctx.call_activity(echo, input=i)
    return total


@app.orchestrator(name="FanOutFanIn")
def fan_out_fan_in(ctx: Any, n: int) -> Any:
    results = yield when_all([ctx.call_activity(echo, input=i) for i in range(n)])
    return sum(results)


@app.orchestrator(name="W5Probe")
def w5_probe(ctx: Any, path: str) -> Any:
    return (yield ctx.call_activity(mark_start, input=path))


# --- entities (E1, E2: bench.entity_drivers) -------------------------------------------------------


@app.entity(name="BenchCounter")
def bench_counter(ctx: Any, amount: Any) -> Any:
    """``add`` (returns the new value) and ``get``."""
    if ctx.operation_name == "add":
        value = ctx.get_state(0) + amount
        ctx.set_state(value)
        return value
    return ctx.get_state(0)


@app.orchestrator(name="CallCounter")
def call_counter(ctx: Any, request: dict[str, Any]) -> Any:
    """``request["calls"]`` sequential ``add`` calls on counter ``request["key"]`` (E2); the last value."""
    from taskhub.model.entities import EntityId

    target, value = EntityId("benchcounter", request["key"]), None
    for _ in range(request["calls"]):
        value = yield ctx.call_entity(target, "add", input=1)
    return value
