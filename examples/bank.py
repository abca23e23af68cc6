"""Bank accounts as class-based entities, and a transfer that no one can see half done.

``Account`` keeps ``balance``: ``deposit`` and ``withdraw`` (refuses to go below zero) return the new
balance; ``get`` returns it. ``transfer`` locks both accounts (a critical section, entities.md 3), checks
the balance, withdraws and deposits; while it holds the locks, no other operation runs on either account,
so every reader sees the money in exactly one place. The input: ``{"from": "alice", "to": "bob",
"amount": 30}``; the output: ``{"moved": 30, "balances": [70, 130]}`` (``moved`` 0 when funds are short).
"""

from __future__ import annotations

from typing import Any

from taskhub.model.app import App
from taskhub.model.context import OrchestrationContext
from taskhub.model.entities import EntityId
from taskhub.model.tasks import when_all

app = App()


@app.entity(name="account")
class Account:
    def __init__(self) -> None:
        self.balance = 0

    def deposit(self, amount: int) -> int:
        self.balance += amount
        return self.balance

    def withdraw(self, amount: int) -> int:
        if amount > self.balance:
            raise ValueError(f"insufficient funds: the balance is {self.balance}, {amount} was asked")
        self.balance -= amount
        return self.balance

    def get(self) -> int:
        return self.balance


@app.orchestrator
def transfer(ctx: OrchestrationContext, request: dict[str, Any]):  # type: ignore[no-untyped-def]
    source, dest = EntityId("account", request["from"]), EntityId("account", request["to"])
    amount = request["amount"]
    lock = yield ctx.lock_entities(source, dest)
    with lock:
        if (yield ctx.call_entity(source, "get")) < amount:
            moved = 0
        else:
            yield ctx.call_entity(source, "withdraw", input=amount)
            yield ctx.call_entity(dest, "deposit", input=amount)
            moved = amount
        balances = yield when_all([ctx.call_entity(source, "get"), ctx.call_entity(dest, "get")])
    return {"moved": moved, "balances": balances}
