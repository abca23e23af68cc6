"""Entity batches: operations one at a time, a failed one rolled back alone, responses and signals."""

from __future__ import annotations

from typing import Any

from taskhub.format.entities import RequestMessage, ResponseMessage, stamp_from_text
from taskhub.format.entity_state import SchedulerState
from taskhub.model.entities import EntityContext, EntityId, run_operation
from worker.entities.batch import EntityBatch
from worker.entities.sorter import DEFAULT_REORDER_WINDOW as W

NOW = stamp_from_text("2024-05-01T10:00:00Z")


def counter(ctx: EntityContext, input: Any) -> Any:
    if ctx.operation_name == "add":
        ctx.set_state(ctx.get_state(0) + input)
        ctx.signal_entity(EntityId("audit", "x"), "log", input=input)
        if input < 0:
            raise ValueError("negative amounts are not allowed")
    elif ctx.operation_name == "get":
        return ctx.get_state(0)
    elif ctx.operation_name == "delete":
        ctx.delete_state()
    return None


def call(op: str, input: Any = None, *, rid: str) -> RequestMessage:
    return RequestMessage(
        id=rid, op=op, input=None if input is None else str(input), parent="orch1", parent_execution="e1"
    )


def test_failed_operation_is_rolled_back_alone() -> None:
    batch = EntityBatch(EntityId("counter", "k"), SchedulerState(), NOW)
    batch.run_sync(
        counter,
        [call("add", 5, rid="a"), call("add", -3, rid="b"), call("add", 2, rid="c"), call("get", rid="d")],
    )
    assert batch.state.state == "7" and batch.state.exists
    out = batch.finish(window=W)
    responses = {o.name: ResponseMessage.from_json(o.input) for o in out if o.target == "orch1"}
    assert responses["a"].result is None and not responses["a"].is_error
    assert responses["b"].is_error and responses["b"].exception_type == "ValueError"
    assert responses["b"].failure_details and "negative" in responses["b"].failure_details["ErrorMessage"]
    assert responses["d"].result == "7"
    signals = [RequestMessage.from_json(o.input) for o in out if o.target == "@audit@x"]
    assert [s.input for s in signals] == ["5", "2"]  # the failed operation's signal was dropped
    assert signals[1].predecessor == signals[0].timestamp and signals[0].parent == "@counter@k"


def test_delete_then_the_entity_does_not_exist() -> None:
    batch = EntityBatch(EntityId("counter", "k"), SchedulerState(exists=True, state="3"), NOW)
    batch.run_sync(counter, [call("delete", rid="a")])
    assert not batch.state.exists and batch.state.state is None


class Account:
    def __init__(self) -> None:
        self.balance = 0

    def deposit(self, amount: int) -> int:
        self.balance += amount
        return self.balance

    def withdraw(self, amount: int) -> int:
        self.balance -= amount
        if self.balance < 0:
            raise ValueError("insufficient funds")
        return self.balance

    def get(self) -> int:
        return self.balance


def test_class_entities_keep_attributes_as_state_and_unknown_delete_deletes() -> None:
    batch = EntityBatch(EntityId("account", "a"), SchedulerState(), NOW)

    def fn(ctx: EntityContext, value: Any) -> Any:
        return run_operation(Account, ctx, value)

    batch.run_sync(
        fn,
        [
            call("deposit", 10, rid="a"),
            call("withdraw", 30, rid="b"),
            call("get", rid="c"),
            call("nope", rid="d"),
        ],
    )
    assert batch.state.state == '{"balance":10}'
    results = {o.request.id: (o.result, o.error) for o in batch.outcomes}
    assert results["c"] == ("10", None)
    assert "insufficient" in str(results["b"][1])
    assert "has no operation 'nope'" in str(results["d"][1]) and "deposit, get, withdraw" in str(
        results["d"][1]
    )
    batch.run_sync(fn, [call("delete", rid="e")])
    assert not batch.state.exists
