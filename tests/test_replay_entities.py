"""Orchestrations calling, signalling and locking entities, replayed purely (entities.md 2.4, 3)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from taskhub.errors import EntityOperationFailedError
from taskhub.format.entities import LOCK_GRANTED, RequestMessage, ResponseMessage, stamp_of, stamp_text
from taskhub.format.history import EventSentEvent, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.entities import EntityId
from tests.builders import EXECUTION, INSTANCE, T0, Driver, at, event_raised

COUNTER = EntityId("Counter", "k1")


def sent(episode: Any) -> list[EventSentEvent]:
    return [e for e in episode.history if isinstance(e, EventSentEvent)]


def response(request: EventSentEvent, result: Any = None, **kw: Any) -> Any:
    rid = json.loads(request.input or "{}")["id"]
    text = ResponseMessage(result=None if result is None else json.dumps(result), **kw).to_json()
    return event_raised(rid, None).__class__(name=rid, input=text)


def test_call_entity_sends_a_labelled_request_and_gets_the_result() -> None:
    app = App()

    @app.orchestrator
    def orch(ctx: Any, _: Any) -> Any:
        yield ctx.call_entity(COUNTER, "add", input=5)
        return (yield ctx.call_entity("@counter@k1", "get"))

    d = Driver(app)
    first = d.start("orch")
    (r1,) = sent(first)
    assert (r1.event_id, r1.instance_id, r1.name) == (0, "@counter@k1", "op")
    msg = json.loads(r1.input or "")
    assert list(msg) == ["op", "input", "id", "parent", "parentExecution", "Timestamp", "Predecessor"]
    assert (msg["op"], msg["input"], msg["parent"], msg["parentExecution"]) == (
        "add",
        "5",
        INSTANCE,
        EXECUTION,
    )
    assert msg["Timestamp"] == stamp_text(stamp_of(T0)) and msg["Predecessor"] == "0001-01-01T00:00:00"
    (out,) = first.outbound
    assert (
        out.target.instance_id == "@counter@k1" and out.target.execution_id is None and out.visible_at is None
    )
    second = d.run(response(r1), now=at(1))
    (r2,) = sent(second)
    assert json.loads(r2.input or "")["Predecessor"] == msg["Timestamp"]
    third = d.run(response(r2, 5), now=at(2))
    assert third.runtime_status is OrchestrationStatus.COMPLETED and third.output == "5"


def test_a_failed_operation_raises_entity_operation_failed() -> None:
    app = App()

    @app.orchestrator
    def orch(ctx: Any, _: Any) -> Any:
        try:
            yield ctx.call_entity(COUNTER, "add", input=-1)
        except EntityOperationFailedError as err:
            return [err.entity_id, err.operation, err.details.error_type, err.details.message]

    d = Driver(app)
    (r1,) = sent(d.start("orch"))
    details = {"ErrorType": "ValueError", "ErrorMessage": "negative", "StackTrace": None}
    done = d.run(response(r1, "negative", exception_type="ValueError", failure_details=details))
    assert json.loads(done.output or "") == ["@counter@k1", "add", "ValueError", "negative"]


def test_delayed_signal_is_named_by_its_time_and_hidden_until_then() -> None:
    app = App()

    @app.orchestrator
    def orch(ctx: Any, _: Any) -> None:
        ctx.signal_entity(COUNTER, "add", input=1, signal_time=timedelta(seconds=30))
        ctx.signal_entity(COUNTER, "add", input=2)

    ep = Driver(app).start("orch")
    delayed, now = sent(ep)
    assert delayed.name == "op@2024-05-01T12:00:30.0000000Z" and now.name == "op"
    req = RequestMessage.from_json(delayed.input)
    assert req.signal and stamp_text(req.due or 0) == "2024-05-01T12:00:30Z" and req.timestamp == 0
    assert ep.outbound[0].visible_at == at(30) and ep.outbound[1].visible_at is None


def test_critical_section_locks_sorted_entities_calls_inside_and_releases_all() -> None:
    app = App()
    a, b = EntityId("account", "b"), EntityId("account", "a")

    @app.orchestrator
    def transfer(ctx: Any, _: Any) -> Any:
        lock = yield ctx.lock_entities(a, b, a)
        with lock:
            yield ctx.call_entity(a, "withdraw", input=5)
        return "done"

    d = Driver(app)
    (req,) = sent(d.start("transfer"))
    lock_msg = json.loads(req.input or "")
    assert req.instance_id == "@account@a" and lock_msg["op"] is None
    assert lock_msg["lockset"] == [{"name": "account", "key": "a"}, {"name": "account", "key": "b"}]
    (call,) = sent(d.run(response(req, LOCK_GRANTED)))
    done = d.run(response(call, 0))
    releases = sent(done)
    assert [(e.instance_id, e.name) for e in releases] == [
        ("@account@a", "release"),
        ("@account@b", "release"),
    ]
    assert json.loads(releases[0].input or "") == {"parent": INSTANCE, "id": lock_msg["id"]}
    assert done.runtime_status is OrchestrationStatus.COMPLETED


def rule_breaker(body: Any) -> str:
    app = App()

    @app.orchestrator
    def orch(ctx: Any, _: Any) -> Any:
        lock = yield ctx.lock_entities(EntityId("a", "1"))
        with lock:
            yield from body(ctx)

    @app.orchestrator
    def child(ctx: Any, _: Any) -> None:
        return None

    d = Driver(app)
    (req,) = sent(d.start("orch"))
    failed = d.run(response(req, LOCK_GRANTED))
    assert failed.runtime_status is OrchestrationStatus.FAILED
    assert failed.failure_details is not None and failed.failure_details.error_type.endswith(
        "LockingRulesViolationError"
    )
    assert sent(failed)[-1].name == "release"  # a failed orchestration releases its locks
    return failed.failure_details.message


def test_locking_rules_are_checked_at_the_call() -> None:
    def nested(ctx: Any) -> Any:
        yield ctx.lock_entities(EntityId("b", "1"))

    def sub(ctx: Any) -> Any:
        yield ctx.call_sub_orchestrator("child")

    def signal(ctx: Any) -> Any:
        ctx.signal_entity(EntityId("a", "1"), "op")
        yield ctx.call_entity(EntityId("a", "1"), "get")

    def outside(ctx: Any) -> Any:
        yield ctx.call_entity(EntityId("z", "9"), "get")

    def twice(ctx: Any) -> Any:
        ctx.call_entity(EntityId("a", "1"), "get")
        yield ctx.call_entity(EntityId("a", "1"), "get")

    assert "cannot lock more entities" in rule_breaker(nested)
    assert "cannot call sub-orchestrator 'child'" in rule_breaker(sub)
    assert "cannot signal entity '@a@1'" in rule_breaker(signal)
    assert "does not lock it" in rule_breaker(outside)
    assert "another call to it is still running" in rule_breaker(twice)


def test_replay_labels_requests_the_same_way() -> None:
    app = App()

    @app.orchestrator
    def orch(ctx: Any, _: Any) -> Any:
        ctx.signal_entity(COUNTER, "add", input=1)
        ctx.signal_entity(COUNTER, "add", input=2)
        yield ctx.create_timer(timedelta(seconds=1))
        ctx.signal_entity(COUNTER, "add", input=3)

    d = Driver(app)
    first = sent(d.start("orch"))
    t1, t2 = (RequestMessage.from_json(e.input) for e in first)
    assert t2.timestamp == t1.timestamp + 1 and t2.predecessor == t1.timestamp
