"""The App the process-tier tests run in real ``taskhub worker`` processes: ``tests.process.apps:app``.

The usual patterns, each with an output the test can predict from the input (:func:`expected_output`):

* ``chain``: four activities one after the other, ``((x + 1) * 2 - 3) ** 2``;
* ``fan``: ``n`` activities at once, then the sum of their squares (``fan_slow``: each takes 1 s);
* ``parent``: a ``chain`` and a ``fan`` sub-orchestration, then an activity on both outputs;
* ``timed``: a durable timer of ``seconds``, then an activity;
* ``approval``: waits for an event or a timer (the timer wins here: nobody raises the event);
* ``staged``: an activity, a timer, a fan-out of 3 and a last activity (the checkpoint-fault test
  hands it to a faulty worker while it sleeps on its timer);
* ``compensate``: calls ``crash_worker`` (which kills its worker process every time); when the task
  fails it runs ``undo`` and returns what failed;
* ``instant``: completes in its first episode;
* ``sleepers``: ``n`` activities that each sleep ``seconds``, then an ``echo`` (the stop tests);
* ``stall``: an activity, then an external event ``go``. In a worker whose environment has
  ``TASKHUB_PROCESS_STALL=<seconds>:<marker file>``, the episode that receives the activity's result
  writes the marker and then blocks the worker's event loop for that long (a frozen process: no lease
  renewal, no I/O), which is how the split-brain test makes a worker stale in the middle of an episode.

Every activity run appends ``<instance id> <task id> <name> <pid>`` to the file named by the
environment variable ``TASKHUB_PROCESS_JOURNAL`` (if set), so the tests can count activities that ran
more than once.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

from taskhub.errors import TaskFailedError
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from taskhub.model.tasks import when_all, when_any

app = App()

JOURNAL_ENV = "TASKHUB_PROCESS_JOURNAL"
STALL_ENV = "TASKHUB_PROCESS_STALL"


def _journal(ctx: ActivityContext) -> None:
    path = os.environ.get(JOURNAL_ENV)
    if path:
        line = f"{ctx.orchestration_id} {ctx.task_id} {ctx.name} {os.getpid()}\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())  # one short O_APPEND write: lines of processes never interleave
        finally:
            os.close(fd)


# -- orchestrators -------------------------------------------------------------------------------


@app.orchestrator
def steps(ctx: OrchestrationContext, n: int):  # type: ignore[no-untyped-def]
    """``n`` steps of ``add_one``: after the first, a group commit runs them in memory."""
    x = 0
    for _ in range(n):
        x = yield ctx.call_activity(add_one, input=x)
    return x


@app.orchestrator
def chain(ctx: OrchestrationContext, x: int):  # type: ignore[no-untyped-def]
    x = yield ctx.call_activity(add_one, input=x)
    x = yield ctx.call_activity(double, input=x)
    x = yield ctx.call_activity(minus_three, input=x)
    return (yield ctx.call_activity(square, input=x))


@app.orchestrator
def fan(ctx: OrchestrationContext, n: int):  # type: ignore[no-untyped-def]
    results = yield when_all([ctx.call_activity(square, input=i) for i in range(1, n + 1)])
    return {"items": len(results), "total": sum(results)}


@app.orchestrator
def fan_slow(ctx: OrchestrationContext, n: int):  # type: ignore[no-untyped-def]
    """Like ``fan``, with activities that take a second: work a killed worker is likely to hold."""
    results = yield when_all([ctx.call_activity(slow_square, input=i) for i in range(1, n + 1)])
    return {"items": len(results), "total": sum(results)}


@app.orchestrator
def parent(ctx: OrchestrationContext, x: int):  # type: ignore[no-untyped-def]
    a, b = yield when_all(
        [ctx.call_sub_orchestrator(chain, input=x), ctx.call_sub_orchestrator(fan, input=3)]
    )
    return (yield ctx.call_activity(combine, input=[a, b["total"]]))


@app.orchestrator
def timed(ctx: OrchestrationContext, seconds: float):  # type: ignore[no-untyped-def]
    yield ctx.create_timer(timedelta(seconds=seconds))
    return (yield ctx.call_activity(echo, input=f"slept {seconds}"))


@app.orchestrator
def approval(ctx: OrchestrationContext, seconds: float):  # type: ignore[no-untyped-def]
    event = ctx.wait_for_external_event("Approval")
    timer = ctx.create_timer(timedelta(seconds=seconds))
    winner = yield when_any([event, timer])
    if winner is event:
        timer.cancel()
        return (yield ctx.call_activity(echo, input=f"approved: {event.get_result()}"))
    return (yield ctx.call_activity(echo, input="escalated"))


@app.orchestrator
def staged(ctx: OrchestrationContext, spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    x = yield ctx.call_activity(add_one, input=spec["x"])
    yield ctx.create_timer(timedelta(seconds=spec["sleep"]))
    squares = yield when_all([ctx.call_activity(square, input=x + i) for i in range(3)])
    return (yield ctx.call_activity(combine, input=squares))


@app.orchestrator
def compensate(ctx: OrchestrationContext, order: str):  # type: ignore[no-untyped-def]
    try:
        yield ctx.call_activity(crash_worker, input=order)
    except TaskFailedError as err:
        undone = yield ctx.call_activity(undo, input=order)
        return {"failed": err.details.error_type, "compensation": undone}
    return {"failed": None}


@app.orchestrator
def instant(ctx: OrchestrationContext, x: int) -> dict[str, int]:
    """Completes in its first episode (no activity, no timer)."""
    return {"doubled": x * 2}


@app.orchestrator
def stall(ctx: OrchestrationContext, x: int):  # type: ignore[no-untyped-def]
    a = yield ctx.call_activity(square, input=x)
    if not ctx.is_replaying:
        _freeze(ctx.instance_id)
    b = yield ctx.wait_for_external_event("go")
    return [a, b]


@app.orchestrator
def sleepers(ctx: OrchestrationContext, spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    """``n`` activities that each sleep ``seconds`` (in their threads), then one more step: slow work in
    flight when a worker is told to stop."""
    slept = yield when_all([ctx.call_activity(sleep_for, input=spec["seconds"]) for _ in range(spec["n"])])
    return (yield ctx.call_activity(echo, input=f"slept {sum(slept)}"))


def _freeze(instance_id: str) -> None:
    """Test-only: block this process (its event loop) when TASKHUB_PROCESS_STALL says so."""
    spec = os.environ.get(STALL_ENV)
    if spec:
        seconds, _, marker = spec.partition(":")
        with open(marker, "w", encoding="utf-8") as f:
            f.write(instance_id)
        time.sleep(float(seconds))


# -- activities ----------------------------------------------------------------------------------


@app.activity
def add_one(ctx: ActivityContext, x: int) -> int:
    _journal(ctx)
    return x + 1


@app.activity
async def double(ctx: ActivityContext, x: int) -> int:
    _journal(ctx)
    return x * 2


@app.activity
def minus_three(ctx: ActivityContext, x: int) -> int:
    _journal(ctx)
    return x - 3


@app.activity
async def square(ctx: ActivityContext, x: int) -> int:
    _journal(ctx)
    return x * x


@app.activity
def slow_square(ctx: ActivityContext, x: int) -> int:
    _journal(ctx)
    time.sleep(1.0)
    return x * x


@app.activity
def sleep_for(ctx: ActivityContext, seconds: float) -> float:
    _journal(ctx)
    time.sleep(seconds)
    return seconds


@app.activity
def combine(ctx: ActivityContext, values: list[int]) -> int:
    _journal(ctx)
    return sum(values)


@app.activity
async def echo(ctx: ActivityContext, text: str) -> str:
    _journal(ctx)
    return text


@app.activity
def crash_worker(ctx: ActivityContext, order: str) -> str:
    """Kills the process that runs it, every time (the poison test)."""
    _journal(ctx)
    os._exit(77)


@app.activity
def undo(ctx: ActivityContext, order: str) -> str:
    _journal(ctx)
    return f"undone {order}"


# -- what the tests expect -----------------------------------------------------------------------


def _chain(x: int) -> int:
    return ((x + 1) * 2 - 3) ** 2


def expected_output(name: str, value: Any) -> Any:
    """The output an orchestration of ``name`` started with ``value`` must complete with."""
    if name == "chain":
        return _chain(value)
    if name == "steps":
        return value
    if name in ("fan", "fan_slow"):
        return {"items": value, "total": sum(i * i for i in range(1, value + 1))}
    if name == "parent":
        return _chain(value) + 14
    if name == "timed":
        return f"slept {value}"
    if name == "approval":
        return "escalated"
    if name == "staged":
        x = value["x"] + 1
        return sum((x + i) ** 2 for i in range(3))
    if name == "instant":
        return {"doubled": value * 2}
    if name == "stall":
        return [value * value, "yes"]
    if name == "sleepers":
        return f"slept {value['n'] * value['seconds']}"
    if name == "compensate":
        return {"failed": "taskhub.PoisonMessage", "compensation": f"undone {value}"}
    raise KeyError(name)


def mixed_workload(count: int, *, prefix: str) -> list[tuple[str, str, Any]]:
    """``count`` (instance id, orchestrator, input) of the patterns above, in a fixed mix."""
    kinds: list[tuple[str, Any]] = [
        ("chain", 0),
        ("fan", 5),
        ("parent", 0),
        ("timed", 1.0),
        ("chain", 0),
        ("approval", 2.0),
        ("fan", 3),
        ("fan_slow", 4),
    ]
    out: list[tuple[str, str, Any]] = []
    for i in range(count):
        name, base = kinds[i % len(kinds)]
        value = base + i % 7 if name in ("chain", "parent") else base
        out.append((f"{prefix}-{i:03d}-{name}", name, value))
    return out
