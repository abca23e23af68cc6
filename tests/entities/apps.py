"""Entities and orchestrations the entity tests run (also loaded by worker processes: ``tests.entities.apps:app``)."""

from __future__ import annotations

from typing import Any

import taskhub
from taskhub import EntityContext, EntityId

app = taskhub.App()


@app.entity
def counter(ctx: EntityContext, input: Any) -> Any:
    if ctx.operation_name == "add":
        ctx.set_state(ctx.get_state(0) + input)
    elif ctx.operation_name == "get":
        return ctx.get_state(0)
    elif ctx.operation_name == "delete":
        ctx.delete_state()
    elif ctx.operation_name == "fail":
        ctx.set_state(-999)
        raise ValueError("this operation always fails")
    return None


@app.entity
class Account:
    def __init__(self) -> None:
        self.balance = 0

    def deposit(self, amount: int) -> int:
        self.balance += amount
        return self.balance

    def withdraw(self, amount: int) -> int:
        if amount > self.balance:
            raise ValueError(f"insufficient funds: balance {self.balance}, asked {amount}")
        self.balance -= amount
        return self.balance

    def get(self) -> int:
        return self.balance


@app.orchestrator
def add_many(ctx: taskhub.OrchestrationContext, args: dict[str, Any]) -> Any:
    target = EntityId("counter", args["key"])
    for _ in range(args["times"]):
        yield ctx.call_entity(target, "add", input=args.get("amount", 1))
    return (yield ctx.call_entity(target, "get"))


@app.orchestrator
def call_failing(ctx: taskhub.OrchestrationContext, key: str) -> Any:
    try:
        yield ctx.call_entity(EntityId("counter", key), "fail")
    except taskhub.EntityOperationFailedError as err:
        return {"error": err.details.message, "type": err.details.error_type}
    return "no error"


@app.orchestrator
def transfer(ctx: taskhub.OrchestrationContext, args: dict[str, Any]) -> Any:
    """Move ``amount`` between accounts inside a critical section; observe both balances inside it."""
    source, dest = EntityId("account", args["from"]), EntityId("account", args["to"])
    lock = yield ctx.lock_entities(source, dest)
    with lock:
        balance = yield ctx.call_entity(source, "get")
        if balance < args["amount"]:
            return {"moved": 0, "seen": balance}
        yield ctx.call_entity(source, "withdraw", input=args["amount"])
        yield ctx.call_entity(dest, "deposit", input=args["amount"])
        after = yield taskhub.when_all([ctx.call_entity(source, "get"), ctx.call_entity(dest, "get")])
    return {"moved": args["amount"], "seen": balance, "after": after}


@app.orchestrator
def audit(ctx: taskhub.OrchestrationContext, keys: list[str]) -> Any:
    """Read every account inside one critical section: the sum any reader sees."""
    ids = [EntityId("account", k) for k in keys]
    lock = yield ctx.lock_entities(*ids)
    with lock:
        balances = yield taskhub.when_all([ctx.call_entity(i, "get") for i in ids])
    return balances


@app.entity
def clock(ctx: EntityContext, input: Any) -> Any:
    """Records when each operation ran (wall clock, for the delayed-signal test)."""
    from datetime import UTC, datetime

    if ctx.operation_name == "tick":
        ctx.set_state([*ctx.get_state(list), datetime.now(UTC).isoformat()])
    return ctx.get_state(list)


@app.entity
def store(ctx: EntityContext, input: Any) -> Any:
    """``set`` replaces the state with the input; ``get`` returns it."""
    if ctx.operation_name == "set":
        ctx.set_state(input)
        return None
    return ctx.get_state()


@app.orchestrator
def read_store(ctx: taskhub.OrchestrationContext, key: str) -> Any:
    value = yield ctx.call_entity(EntityId("store", key), "get")
    return len(value)
