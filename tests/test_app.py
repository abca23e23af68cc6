"""App registration and lookup."""

from __future__ import annotations

from typing import Any

import pytest

from taskhub.model.app import App
from taskhub.model.context import ActivityContext


def test_bare_and_named_decorators_register_and_return_the_function() -> None:
    app = App()

    @app.orchestrator
    def workflow(ctx: Any, _: Any) -> Any:
        yield None

    @app.activity(name="process_approval")
    async def process(ctx: Any, approved: bool) -> str:
        return "ok"

    @app.activity
    def notify(ctx: Any, _: Any) -> None:
        return None

    assert app.orchestrator_names == ["workflow"]
    assert app.activity_names == ["notify", "process_approval"]
    assert app.get_orchestrator("workflow") is workflow
    assert app.get_activity("process_approval") is process
    assert app.get_activity("process") is None
    assert app.activity_name(process) == "process_approval"
    assert app.activity_name("anything") == "anything"
    assert app.orchestrator_name(workflow) == "workflow"


def test_plain_function_orchestrators_are_allowed() -> None:
    app = App()

    @app.orchestrator(name="double")
    def twice(ctx: Any, n: int) -> int:
        return n * 2

    assert app.get_orchestrator("double") is twice


def test_async_orchestrators_are_rejected_at_registration() -> None:
    app = App()

    with pytest.raises(TypeError, match=r"'wait_async' is an async function.*generator"):

        @app.orchestrator
        async def wait_async(ctx: Any, _: Any) -> None:
            return None

    assert app.orchestrator_names == []


def test_duplicate_names_are_rejected() -> None:
    app = App()

    @app.activity
    def same(ctx: Any, _: Any) -> None:
        return None

    def other(ctx: Any, _: Any) -> None:
        return None

    with pytest.raises(ValueError, match="activity named 'same' is already registered"):
        app.activity(name="same")(other)
    with pytest.raises(ValueError, match="already registered as activity 'same'"):
        app.activity(name="alias")(same)

    # Orchestrators and activities have separate namespaces.
    app.orchestrator(name="same")(other)
    assert app.orchestrator_names == ["same"]


def test_unregistered_function_is_rejected_with_advice() -> None:
    app = App()

    def stray(ctx: Any, _: Any) -> None:
        return None

    with pytest.raises(ValueError, match=r"stray is not registered as an activity.*@app\.activity"):
        app.activity_name(stray)
    with pytest.raises(ValueError, match=r"not registered as an orchestrator.*@app\.orchestrator"):
        app.orchestrator_name(stray)
    with pytest.raises(ValueError, match="non-empty"):
        app.activity_name("")


def test_names_must_be_non_empty_strings() -> None:
    app = App()

    with pytest.raises(ValueError, match="non-empty string"):
        app.activity(name="")(lambda ctx, x: x)
    with pytest.raises(TypeError, match="needs a function"):
        app.activity(42)  # type: ignore[call-overload]


def test_activity_context_fields() -> None:
    ctx = ActivityContext(orchestration_id="inst1", task_id=3, name="say_hello")

    assert (ctx.orchestration_id, ctx.task_id, ctx.name) == ("inst1", 3, "say_hello")
