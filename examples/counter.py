"""A durable entity: a counter that clients signal and orchestrations call.

``counter`` keeps an integer: ``add`` (input: the amount), ``reset``, ``get`` (returns the value) and
``delete``. Signals are one-way and may be delayed (``signal_time``); calls return the operation's result.
Operations of one counter run one at a time, in the order they were sent, whoever sends them.

::

    await client.signal_entity(EntityId("counter", "visits"), "add", input=1)
    meta = await client.get_entity(EntityId("counter", "visits"))      # meta.state == 1

``count_to`` calls ``add`` ``input["times"]`` times on one counter and returns what ``get`` says then.
"""

from __future__ import annotations

from typing import Any

from taskhub.model.app import App
from taskhub.model.context import OrchestrationContext
from taskhub.model.entities import EntityContext, EntityId

app = App()


@app.entity
def counter(ctx: EntityContext, amount: Any) -> Any:
    if ctx.operation_name == "add":
        ctx.set_state(ctx.get_state(0) + amount)
    elif ctx.operation_name == "reset":
        ctx.set_state(0)
    elif ctx.operation_name == "get":
        return ctx.get_state(0)
    elif ctx.operation_name == "delete":
        ctx.delete_state()
    else:
        raise ValueError(f"counter has no operation {ctx.operation_name!r} (add, reset, get, delete)")
    return None


@app.orchestrator
def count_to(ctx: OrchestrationContext, request: dict[str, Any]):  # type: ignore[no-untyped-def]
    target = EntityId("counter", request["key"])
    for _ in range(request["times"]):
        yield ctx.call_entity(target, "add", input=1)
    return (yield ctx.call_entity(target, "get"))
