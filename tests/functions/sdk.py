"""Helpers for the functions-host tests: an App of SDK orchestrators, and the SDK's own reply schema."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from worker.functions.app import FunctionsApp
from worker.functions.shim import FunctionNames, SdkOrchestrator


def sdk_app(
    orchestrators: dict[str, Callable[..., Any]],
    activities: Iterable[str] = (),
    entities: Iterable[str] = (),
) -> FunctionsApp:
    """Orchestrator functions written for the SDK (``def fn(context): ... yield ...``), as our App."""
    names = FunctionNames(orchestrators, activities, entities)
    app = FunctionsApp()
    for name, fn in orchestrators.items():
        app.orchestrator(name=name)(SdkOrchestrator(name, df.Orchestrator.create(fn), names))
    return app


def sdk_input(value: Any) -> str:
    """What the SDK's client posts as an orchestration input (its JSON text; stored double-encoded)."""
    return json.dumps(value)


def reply_schema() -> dict[str, Any]:
    """The SDK's JSON schema of OrchestratorState, from the test suite shipped in its wheel."""
    root = Path(df.__file__).resolve().parents[2] / "tests" / "orchestrator" / "schemas"
    spec = importlib.util.spec_from_file_location("sdk_reply_schema", root / "OrchetrationStateSchema.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    schema: dict[str, Any] = module.schema
    return schema
