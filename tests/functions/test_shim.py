"""SDK orchestrators driven through the shim and our episode machinery: what history they leave
(functions-host.md 3, 4), with the SDK's encodings and DTFx's id, retry and timer rules."""

from __future__ import annotations

import json
from datetime import timedelta

import azure.durable_functions as df

from taskhub.format.entities import RequestMessage
from taskhub.format.history import (
    EventRaisedEvent,
    EventSentEvent,
    OrchestrationStatus,
    SubOrchestrationInstanceCreatedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
)
from tests.builders import (
    EXECUTION,
    T0,
    Driver,
    at,
    event_raised,
    started,
    task_completed,
    task_failed,
    timer_fired,
)
from tests.functions.sdk import sdk_app, sdk_input


def scheduled(episode, kind=TaskScheduledEvent):  # type: ignore[no-untyped-def]
    return [e for e in episode.history if isinstance(e, kind)]


def chain(context):  # type: ignore[no-untyped-def]
    city = context.get_input()["city"]
    first = yield context.call_activity("hello", city)
    second = yield context.call_activity("hello", "London")
    return [first, second]


def test_chaining_stores_the_extensions_encodings() -> None:
    d = Driver(sdk_app({"chain": chain}, ["hello"]))
    ep = d.start("chain", sdk_input({"city": "Tokyo"}))
    (task,) = scheduled(ep)
    assert (task.event_id, task.name, task.input) == (0, "hello", '["\\"Tokyo\\""]')
    ep = d.run(task_completed(0, "Hello Tokyo"), now=at(1))
    assert [(e.event_id, e.input) for e in scheduled(ep)] == [(1, '["\\"London\\""]')]
    ep = d.run(task_completed(1, "Hello London"), now=at(2))
    assert ep.runtime_status is OrchestrationStatus.COMPLETED
    assert ep.output == '["Hello Tokyo","Hello London"]'


def fan_out(context):  # type: ignore[no-untyped-def]
    tasks = [context.call_activity("double", n) for n in range(3)]
    results = yield context.task_all(tasks)
    return sum(results)


def test_fan_out_ids_in_order_and_results_in_any_order() -> None:
    d = Driver(sdk_app({"fan_out": fan_out}, ["double"]))
    ep = d.start("fan_out", sdk_input(None))
    assert [(e.event_id, e.input) for e in scheduled(ep)] == [(0, '["0"]'), (1, '["1"]'), (2, '["2"]')]
    d.run(task_completed(2, 4), task_completed(0, 0), now=at(1))
    ep = d.run(task_completed(1, 2), now=at(2))
    assert (ep.runtime_status, ep.output) == (OrchestrationStatus.COMPLETED, "6")


def with_retry(context):  # type: ignore[no-untyped-def]
    options = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=3)
    result = yield context.call_activity_with_retry("flaky", options, "x")
    return result


def test_retry_follows_the_dtfx_timer_pattern() -> None:
    d = Driver(sdk_app({"with_retry": with_retry}, ["flaky"]))
    d.start("with_retry", sdk_input(None))
    ep = d.run(task_failed(0, "boom"), now=at(1))
    (timer,) = scheduled(ep, TimerCreatedEvent)
    assert (timer.event_id, timer.fire_at) == (1, at(6))
    ep = d.run(timer_fired(1, at(6)), now=at(6))
    assert [e.event_id for e in scheduled(ep)] == [2]
    ep = d.run(task_failed(2, "boom again"), now=at(7))
    assert [(t.event_id, t.fire_at) for t in scheduled(ep, TimerCreatedEvent)] == [(3, at(12))]
    d.run(timer_fired(3, at(12)), now=at(12))
    ep = d.run(task_completed(4, "ok"), now=at(13))
    assert (ep.runtime_status, ep.output) == (OrchestrationStatus.COMPLETED, '"ok"')


def test_retry_exhausted_adds_the_back_compat_timer_then_fails() -> None:
    def twice(context):  # type: ignore[no-untyped-def]
        options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)
        return (yield context.call_activity_with_retry("flaky", options, "x"))

    d = Driver(sdk_app({"twice": twice}, ["flaky"]))
    d.start("twice", sdk_input(None))
    d.run(task_failed(0, "boom"), now=at(1))
    d.run(timer_fired(1, at(2)), now=at(2))
    ep = d.run(task_failed(2, "boom again"), now=at(3))
    (dummy,) = scheduled(ep, TimerCreatedEvent)
    assert (dummy.event_id, dummy.fire_at) == (3, at(3))  # due at once
    ep = d.run(timer_fired(3, at(3)), now=at(3))
    assert ep.runtime_status is OrchestrationStatus.FAILED
    assert ep.failure_details is not None
    assert ep.failure_details.message.startswith("Orchestrator function 'twice' failed: ")
    assert "boom again" in ep.failure_details.message


def test_long_timer_in_three_day_links_from_the_sdk() -> None:
    def sleeper(context):  # type: ignore[no-untyped-def]
        yield context.create_timer(context.current_utc_datetime + timedelta(days=10))
        return "awake"

    d = Driver(sdk_app({"sleeper": sleeper}))
    fire_times = []
    ep = d.start("sleeper", sdk_input(None))
    for _ in range(5):
        timers = scheduled(ep, TimerCreatedEvent)
        if not timers:
            break
        (timer,) = timers
        fire_times.append(timer.fire_at)
        ep = d.run(timer_fired(timer.event_id, timer.fire_at), now=timer.fire_at)
    assert fire_times == [T0 + timedelta(days=3), T0 + timedelta(days=6), T0 + timedelta(days=10)]
    assert (ep.runtime_status, ep.output) == (OrchestrationStatus.COMPLETED, '"awake"')


def test_sub_orchestration_gets_the_dtfx_default_instance_id_and_the_text_input() -> None:
    def parent(context):  # type: ignore[no-untyped-def]
        a = yield context.call_activity("hello", "a")
        b = yield context.call_sub_orchestrator("child", {"n": 1})
        return [a, b]

    d = Driver(sdk_app({"parent": parent, "child": parent}, ["hello"]))
    d.start("parent", sdk_input(None))
    ep = d.run(task_completed(0, "A"), now=at(1))
    (created,) = scheduled(ep, SubOrchestrationInstanceCreatedEvent)
    assert (created.event_id, created.name, created.instance_id) == (1, "child", f"{EXECUTION}:1")
    assert json.loads(created.input or "") == '{"n": 1}'  # the SDK's JSON text, as a JSON string


def human(context):  # type: ignore[no-untyped-def]
    deadline = context.current_utc_datetime + timedelta(hours=1)
    timer = context.create_timer(deadline)
    approval = context.wait_for_external_event("Approval")
    winner = yield context.task_any([approval, timer])
    if winner == approval:
        timer.cancel()
        return f"approved: {approval.result}"
    return "timed out"


def test_human_interaction_event_wins_and_the_timer_is_cancelled() -> None:
    d = Driver(sdk_app({"human": human}))
    ep = d.start("human", sdk_input(None))
    assert [t.event_id for t in scheduled(ep, TimerCreatedEvent)] == [0]
    ep = d.run(event_raised("Approval", "yes"), now=at(5))
    assert (ep.runtime_status, ep.output) == (OrchestrationStatus.COMPLETED, '"approved: yes"')


def test_human_interaction_timer_wins() -> None:
    d = Driver(sdk_app({"human": human}))
    d.start("human", sdk_input(None))
    ep = d.run(timer_fired(0, at(hours=1)), now=at(hours=1))
    assert (ep.runtime_status, ep.output) == (OrchestrationStatus.COMPLETED, '"timed out"')


def test_custom_status_and_continue_as_new() -> None:
    def counter(context):  # type: ignore[no-untyped-def]
        n = context.get_input() or 0
        context.set_custom_status({"n": n})
        if n < 3:
            yield context.call_activity("hello", str(n))
            context.continue_as_new(n + 1)
            return None
        return n

    d = Driver(sdk_app({"counter": counter}, ["hello"]))
    ep = d.start("counter", sdk_input(0))
    assert ep.custom_status == '{"n":0}'
    for n in range(3):
        ep = d.run(task_completed(0, "hi"), now=at(n + 1))
        assert ep.continued_as_new
        assert json.loads(ep.started.input or "") == str(n + 1)  # JSON text as a JSON string
    assert ep.custom_status == '{"n":3}'
    assert (ep.runtime_status, ep.output) == (OrchestrationStatus.COMPLETED, "3")


def test_non_determinism_names_the_action_and_the_event() -> None:
    def changed(context):  # type: ignore[no-untyped-def]
        return (yield context.call_activity("goodbye", "x"))

    d = Driver(sdk_app({"chain": chain}, ["hello", "goodbye"]))
    d.start("chain", sdk_input({"city": "Oslo"}))
    d.app = sdk_app({"chain": changed}, ["hello", "goodbye"])
    ep = d.run(task_completed(0, "Hello Oslo"), now=at(1))
    assert ep.runtime_status is OrchestrationStatus.FAILED
    assert ep.failure_details is not None
    message = ep.failure_details.message
    assert "TaskScheduled for activity 'hello'" in message and "'goodbye'" in message


def test_unknown_activity_fails_listing_the_registered_ones() -> None:
    def typo(context):  # type: ignore[no-untyped-def]
        return (yield context.call_activity("helo", "x"))

    d = Driver(sdk_app({"typo": typo}, ["hello", "goodbye"]))
    ep = d.start("typo", sdk_input(None))
    assert ep.runtime_status is OrchestrationStatus.FAILED
    assert ep.failure_details is not None
    assert "activity 'helo'" in ep.failure_details.message
    assert "goodbye, hello" in ep.failure_details.message
    assert not scheduled(ep)


def test_orchestrator_exception_is_the_orchestrations_failure() -> None:
    def broken(context):  # type: ignore[no-untyped-def]
        yield context.call_activity("hello", "x")
        raise ValueError("no luck")

    d = Driver(sdk_app({"broken": broken}, ["hello"]))
    d.start("broken", sdk_input(None))
    ep = d.run(task_completed(0, "hi"), now=at(1))
    assert ep.runtime_status is OrchestrationStatus.FAILED
    assert ep.failure_details is not None
    assert ep.failure_details.message.startswith("Orchestrator function 'broken' failed: ")
    assert "no luck" in ep.failure_details.message


def test_entity_call_and_signal_carry_double_encoded_inputs() -> None:
    def uses_counter(context):  # type: ignore[no-untyped-def]
        entity = df.EntityId("Counter", "k1")
        context.signal_entity(entity, "add", 5)
        value = yield context.call_entity(entity, "get")
        return value

    d = Driver(sdk_app({"uses_counter": uses_counter}, entities=["counter"]))
    ep = d.start("uses_counter", sdk_input(None))
    sent = scheduled(ep, EventSentEvent)
    assert [(e.event_id, e.instance_id, e.name) for e in sent] == [
        (0, "@counter@k1", "op"),
        (1, "@counter@k1", "op"),
    ]
    signal = RequestMessage.from_json(sent[0].input)
    call = RequestMessage.from_json(sent[1].input)
    assert (signal.op, signal.signal, signal.input) == ("add", True, '"5"')
    assert (call.op, call.signal, call.input) == ("get", False, '"null"')
    response = json.dumps({"result": "5"})
    ep = d.run(EventRaisedEvent(name=call.id, input=response), now=at(1))
    assert (ep.runtime_status, ep.output) == (OrchestrationStatus.COMPLETED, "5")


def test_started_by_a_plain_json_client_still_reads_its_input() -> None:
    d = Driver(sdk_app({"chain": chain}, ["hello"]))
    ep = d.run(started("chain", {"city": "Rome"}), now=T0)  # single-encoded, as our own client writes it
    assert [e.input for e in scheduled(ep)] == ['["\\"Rome\\""]']
