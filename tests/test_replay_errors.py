"""Orchestrator mistakes end the execution as Failed with FailureDetails that say what went wrong."""

from __future__ import annotations

from typing import Any

import pytest

from taskhub.format.history import FailureDetails, HistoryEvent, OrchestrationStatus
from taskhub.model.app import App
from tests.builders import orchestrator_started, replay, started


class InventoryError(Exception):
    pass


app = App()


@app.orchestrator
def raises_builtin(ctx: Any, _: Any) -> Any:
    yield from ()
    raise KeyError("sku-42")


@app.orchestrator
def raises_custom(ctx: Any, _: Any) -> Any:
    raise InventoryError("out of stock")


@app.orchestrator
def bad_activity_input(ctx: Any, _: Any) -> Any:
    yield ctx.call_activity("ship", input={"when": object()})


@app.orchestrator
def bad_output(ctx: Any, _: Any) -> Any:
    return {1, 2, 3}


@app.orchestrator
def yields_a_number(ctx: Any, _: Any) -> Any:
    yield 42


@app.orchestrator
def yields_a_long_string(ctx: Any, _: Any) -> Any:
    yield "x" * 1000


def run_failed(name: str, input: Any = None) -> FailureDetails:
    result = replay(app, [], [orchestrator_started(), started(name, input)])
    assert result.completion is not None
    assert result.completion.status is OrchestrationStatus.FAILED
    assert result.completion.failure_details is not None
    return result.completion.failure_details


def test_builtin_exception_becomes_failure_details() -> None:
    details = run_failed("raises_builtin")

    assert details.error_type == "KeyError"
    assert details.message == "'sku-42'"
    assert details.stack_trace is not None and "raises_builtin" in details.stack_trace


def test_custom_exception_type_is_module_qualified() -> None:
    details = run_failed("raises_custom")

    assert details.error_type.endswith(".InventoryError")
    assert details.error_type.split(".")[-2].endswith("test_replay_errors")
    assert details.message == "out of stock"


def test_non_json_activity_input_names_the_activity_and_the_type() -> None:
    details = run_failed("bad_activity_input")

    assert details.error_type == "TypeError"
    assert "input of activity 'ship'" in details.message
    assert "object" in details.message


def test_non_json_output_names_the_orchestrator_and_the_type() -> None:
    details = run_failed("bad_output")

    assert details.error_type == "TypeError"
    assert "output of orchestrator 'bad_output'" in details.message
    assert "set" in details.message


def test_yielding_something_that_is_not_a_task() -> None:
    details = run_failed("yields_a_number")

    assert details.error_type == "TypeError"
    assert "yielded int 42" in details.message
    assert "only yield tasks" in details.message


def test_yielded_value_repr_is_truncated() -> None:
    details = run_failed("yields_a_long_string")

    assert "yielded str 'xxx" in details.message
    assert len(details.message) < 400


def test_unknown_orchestrator_lists_the_registered_names() -> None:
    details = run_failed("no_such_thing")

    assert "'no_such_thing' is not registered" in details.message
    for name in ("bad_output", "raises_builtin", "yields_a_number"):
        assert repr(name) in details.message


def test_input_that_is_not_json_fails_clearly() -> None:
    start = started("bad_output")
    start.input = "{not json"
    result = replay(app, [], [orchestrator_started(), start])

    assert result.completion is not None and result.completion.failure_details is not None
    assert "input of orchestrator 'bad_output' is not valid JSON" in result.completion.failure_details.message


class _FutureEvent(HistoryEvent):
    """An event kind the replay engine has no handler for."""


def test_event_kind_without_a_handler_raises() -> None:
    with pytest.raises(TypeError, match="no replay handler for history event _FutureEvent"):
        replay(app, [orchestrator_started(), started("bad_output"), _FutureEvent()])


def test_history_without_execution_started_raises() -> None:
    with pytest.raises(ValueError, match="no ExecutionStarted"):
        replay(app, [orchestrator_started()], [])
