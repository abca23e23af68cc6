"""An aggregator entity fed by signals from many orchestrations.

Each ``report_reading`` orchestration computes a reading (an activity) and signals it to the
``aggregator`` entity of its sensor group; the entity keeps count, sum, minimum and maximum, so reading
the aggregate is one ``get_entity`` instead of a query over many instances. Signals are one-way: the
orchestrations finish without waiting for the entity.

Input of ``report_reading``: ``{"group": "north", "value": 17.5}``.
"""

from __future__ import annotations

from typing import Any

from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from taskhub.model.entities import EntityContext, EntityId

app = App()


@app.entity
def aggregator(ctx: EntityContext, value: Any) -> Any:
    stats = ctx.get_state(lambda: {"count": 0, "sum": 0.0, "min": None, "max": None})
    if ctx.operation_name == "add":
        stats["count"] += 1
        stats["sum"] += value
        stats["min"] = value if stats["min"] is None else min(stats["min"], value)
        stats["max"] = value if stats["max"] is None else max(stats["max"], value)
        ctx.set_state(stats)
        return None
    if ctx.operation_name == "get":
        return stats
    raise ValueError(f"aggregator has no operation {ctx.operation_name!r} (add, get)")


@app.activity
def calibrate(ctx: ActivityContext, value: float) -> float:
    return round(value * 1.0, 3)


@app.orchestrator
def report_reading(ctx: OrchestrationContext, reading: dict[str, Any]):  # type: ignore[no-untyped-def]
    value = yield ctx.call_activity(calibrate, input=reading["value"])
    ctx.signal_entity(EntityId("aggregator", reading["group"]), "add", input=value)
    return value
