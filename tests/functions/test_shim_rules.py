"""The shim's rules beyond the samples (functions-host.md 2, 4): reply shapes, unsupported actions,
retries inside compounds, sub-orchestration retries."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import pytest

from taskhub.errors import FunctionAppError
from taskhub.format.history import (
    OrchestrationStatus,
    SubOrchestrationInstanceCreatedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
)
from tests.builders import EXECUTION, Driver, at, sub_failed, task_completed, task_failed, timer_fired
from tests.functions.sdk import sdk_app, sdk_input
from worker.functions.app import FunctionsApp
from worker.functions.reply import parse_reply
from worker.functions.shim import FunctionNames, SdkOrchestrator


def raw_app(reply: dict[str, Any], activities: tuple[str, ...] = ("hello",)) -> FunctionsApp:
    """An orchestrator entry point that always answers ``reply`` (as an old or odd SDK would)."""
    app = FunctionsApp()
    names = FunctionNames(["raw"], activities, [])
    app.orchestrator(name="raw")(SdkOrchestrator("raw", lambda _context: json.dumps(reply), names))
    return app


def kinds(episode, kind):  # type: ignore[no-untyped-def]
    return [e for e in episode.history if isinstance(e, kind)]


def test_original_schema_replies_are_followed() -> None:
    reply = {
        "isDone": False,
        "actions": [[{"actionType": 0, "functionName": "hello", "input": '"a"'}]],
    }
    ep = Driver(raw_app(reply)).start("raw")
    assert [(e.event_id, e.input) for e in kinds(ep, TaskScheduledEvent)] == [(0, '["\\"a\\""]')]
    assert ep.runtime_status is OrchestrationStatus.RUNNING


def test_a_v3_reply_with_two_action_lists_fails_the_orchestration() -> None:
    reply = {"isDone": False, "schemaVersion": 2, "actions": [[], []]}
    ep = Driver(raw_app(reply)).start("raw")
    assert ep.runtime_status is OrchestrationStatus.FAILED
    assert ep.failure_details is not None and "exactly one" in ep.failure_details.message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not JSON"),
        ('{"actions": []}', "not an OrchestratorState"),
        ('{"isDone": false, "actions": [[{"actionType": 42}]]}', "unknown actionType 42"),
        ('{"isDone": false, "schemaVersion": 7, "actions": [[]]}', "schemaVersion 7"),
    ],
)
def test_bad_replies_are_named(text: str, says: str) -> None:
    with pytest.raises(FunctionAppError, match=says):
        parse_reply(text)


def test_call_http_is_refused_in_one_line() -> None:
    def fetch(context):  # type: ignore[no-untyped-def]
        return (yield context.call_http("GET", "https://example.invalid/"))

    ep = Driver(sdk_app({"fetch": fetch})).start("fetch", sdk_input(None))
    assert ep.runtime_status is OrchestrationStatus.FAILED
    assert ep.failure_details is not None
    assert "CallHttp (actionType 8), which taskhub func start does not support" in ep.failure_details.message


def test_retries_inside_a_fan_out_interleave_their_ids() -> None:
    def both(context):  # type: ignore[no-untyped-def]
        options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)
        a = context.call_activity_with_retry("flaky", options, "a")
        b = context.call_activity_with_retry("flaky", options, "b")
        return (yield context.task_all([a, b]))

    d = Driver(sdk_app({"both": both}, ["flaky"]))
    ep = d.start("both", sdk_input(None))
    assert [(e.event_id, e.input) for e in kinds(ep, TaskScheduledEvent)] == [
        (0, '["\\"a\\""]'),
        (1, '["\\"b\\""]'),
    ]
    ep = d.run(task_failed(1, "b broke"), now=at(1))
    assert [(t.event_id, t.fire_at) for t in kinds(ep, TimerCreatedEvent)] == [(2, at(2))]
    d.run(task_completed(0, "A"), now=at(1.5))
    ep = d.run(timer_fired(2, at(2)), now=at(2))
    assert [(e.event_id, e.input) for e in kinds(ep, TaskScheduledEvent)] == [(3, '["\\"b\\""]')]
    ep = d.run(task_completed(3, "B"), now=at(3))
    assert (ep.runtime_status, ep.output) == (OrchestrationStatus.COMPLETED, '["A","B"]')


def test_sub_orchestration_retry_gets_a_new_default_id_per_attempt() -> None:
    def parent(context):  # type: ignore[no-untyped-def]
        options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)
        try:
            return (yield context.call_sub_orchestrator_with_retry("child", options, "x"))
        except Exception:
            return "child failed twice"

    d = Driver(sdk_app({"parent": parent, "child": parent}))
    ep = d.start("parent", sdk_input(None))
    assert [e.instance_id for e in kinds(ep, SubOrchestrationInstanceCreatedEvent)] == [f"{EXECUTION}:0"]
    d.run(sub_failed(0, "nope"), now=at(1))
    ep = d.run(timer_fired(1, at(2)), now=at(2))
    assert [e.instance_id for e in kinds(ep, SubOrchestrationInstanceCreatedEvent)] == [f"{EXECUTION}:2"]
    d.run(sub_failed(2, "nope again"), now=at(3))
    ep = d.run(timer_fired(3, at(3)), now=at(3))
    assert (ep.runtime_status, ep.output) == (OrchestrationStatus.COMPLETED, '"child failed twice"')


def test_names_match_case_insensitively_and_keep_the_callers_spelling() -> None:
    def shouty(context):  # type: ignore[no-untyped-def]
        return (yield context.call_activity("HELLO", "x"))

    ep = Driver(sdk_app({"shouty": shouty}, ["hello"])).start("shouty", sdk_input(None))
    assert [e.name for e in kinds(ep, TaskScheduledEvent)] == ["HELLO"]
    assert ep.runtime_status is OrchestrationStatus.RUNNING
