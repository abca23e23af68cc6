"""Our hub's histories as the SDK's orchestrator context (functions-host.md 1), and the SDK's replies to
them validated against the SDK's own schema."""

from __future__ import annotations

import json

import azure.durable_functions as df
import jsonschema
from azure.durable_functions.models import DurableOrchestrationContext

from taskhub.format.history import EventType
from tests.builders import Driver, at, event_raised, resumed, suspended, task_completed, timer_fired
from tests.functions.sdk import reply_schema, sdk_app, sdk_input
from tests.functions.test_shim import chain, fan_out, human, with_retry
from worker.functions.history_json import orchestrator_context, sdk_history


def test_context_of_a_running_chain() -> None:
    d = Driver(sdk_app({"chain": chain}, ["hello"]))
    d.start("chain", sdk_input({"city": "Tokyo"}))
    past = list(d.history)
    d.run(task_completed(0, "Hello Tokyo"), now=at(1))
    new = d.history[len(past) :]
    body = json.loads(orchestrator_context("inst1", past, new))
    assert body["input"] == '{"city": "Tokyo"}'  # ExecutionStarted.Input parsed once: the SDK's JSON text
    assert body["instanceId"] == "inst1" and body["parentInstanceId"] is None
    assert (body["upperSchemaVersion"], body["upperSchemaVersionNew"]) == (1, 2)
    assert (body["maximumShortTimerDuration"], body["longRunningTimerIntervalDuration"]) == (
        "6.00:00:00",
        "3.00:00:00",
    )
    history = body["history"]
    assert [h["EventType"] for h in history[:2]] == [
        EventType.OrchestratorStarted,
        EventType.ExecutionStarted,
    ]
    assert all(h["IsPlayed"] for h in history[: len(past)])
    assert not any(h["IsPlayed"] for h in history[len(past) :])
    assert history[1]["Version"] == "" and history[1]["Name"] == "chain"
    scheduled = next(h for h in history if h["EventType"] == EventType.TaskScheduled)
    assert (scheduled["EventId"], scheduled["Name"], scheduled["Input"]) == (0, "hello", '["\\"Tokyo\\""]')
    context = DurableOrchestrationContext.from_json(json.dumps(body))
    assert context.instance_id == "inst1" and context.get_input() == {"city": "Tokyo"}


def _replies(driver: Driver, fn, name: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """The SDK's reply to the context of every prefix of the driver's history."""
    out = []
    cut = [i for i, e in enumerate(driver.history) if e.event_type is EventType.OrchestratorStarted]
    for i in [*cut[1:], len(driver.history)]:
        text = orchestrator_context("inst1", driver.history[:i], [])
        try:
            out.append(json.loads(df.Orchestrator.create(fn)(text)))
        except Exception as exc:  # a failing orchestrator raises its state
            out.append(json.loads(str(exc).split("$OutOfProcData$:", 1)[1]))
    return out


def test_replies_to_our_histories_follow_the_sdk_schema() -> None:
    schema = reply_schema()
    scenarios = [
        ("chain", chain, [task_completed(0, "a"), task_completed(1, "b")]),
        ("fan_out", fan_out, [task_completed(1, 2), task_completed(0, 0), task_completed(2, 4)]),
        ("with_retry", with_retry, [task_completed(0, "ok")]),
        ("human", human, [event_raised("Approval", "yes")]),
    ]
    checked = 0
    for name, fn, events in scenarios:
        d = Driver(sdk_app({name: fn}, ["hello", "double", "flaky"]))
        d.start(name, sdk_input({"city": "Oslo"}))
        for n, event in enumerate(events):
            d.run(event, now=at(n + 1))
        replies = _replies(d, fn, name)
        for reply in replies:
            jsonschema.validate(reply, schema)
            assert reply["schemaVersion"] == 2 and len(reply["actions"]) == 1
            checked += 1
        assert replies[-1]["isDone"] is True, name
    assert checked >= 8


def test_events_held_while_suspended_come_after_the_resume() -> None:
    d = Driver(sdk_app({"human": human}))
    d.start("human", sdk_input(None))
    d.run(suspended(), now=at(1))
    d.run(event_raised("Approval", "yes"), now=at(2))
    held = [type(e).__name__ for e, _ in sdk_history(d.history, [])]
    assert "EventRaisedEvent" not in held  # still suspended: the SDK does not see it yet
    d.run(resumed(), now=at(3))
    order = [type(e).__name__ for e, _ in sdk_history(d.history, [])]
    assert order.index("ExecutionResumedEvent") < order.index("EventRaisedEvent")
    assert d.episodes[-1].output == '"approved: yes"'


def test_timer_fired_before_the_sdk_asks_is_replayed() -> None:
    d = Driver(sdk_app({"human": human}))
    d.start("human", sdk_input(None))
    ep = d.run(timer_fired(0, at(hours=1)), now=at(hours=1))
    assert ep.output == '"timed out"'
