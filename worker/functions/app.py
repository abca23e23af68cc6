"""The discovered functions as a ``taskhub.App`` our worker runs (functions-host.md 6).

- orchestrators: :class:`worker.functions.shim.SdkOrchestrator` over the SDK entry point;
- activities: the SDK's trigger converter decodes the input (the JSON text in ``[T]``, a plain string
  passed raw), the function runs (sync ones in the worker's thread pool), the converter encodes the result;
- entities: the SDK's batch entry point, called with a batch of one operation per operation, so our
  entity engine keeps its scheduling, locks and messages.

Every function is registered under its name and its aliases (the trigger's alias and the Python
``__name__``: ``call_activity(fn)`` resolves to the latter), and looked up case-insensitively, as the
extension does.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskhub.model.app import Activity, App, Orchestrator
from taskhub.model.context import ActivityContext
from taskhub.model.entities import EntityContext
from worker.functions.discovery import FunctionInfo
from worker.functions.runlog import RunLog
from worker.functions.shim import FunctionNames, SdkOrchestrator

__all__ = [
    "FunctionsApp",
    "HostedApp",
    "build_app",
    "load_functions_app",
    "ActivityFunctionError",
    "EntityOperationError",
]


class ActivityFunctionError(Exception):
    """An SDK activity raised; the message reads as the extension's (``Activity function 'x' failed: ...``)."""


class EntityOperationError(Exception):
    """An SDK entity operation raised; the message is the SDK's (``str(exception)``)."""


class FunctionsApp(App):
    """An App whose lookups fall back to a case-insensitive match, as Durable Functions' names do."""

    def _fold(self, names: list[str], name: str) -> str | None:
        return next((n for n in names if n.lower() == name.lower()), None)

    def get_orchestrator(self, name: str) -> Orchestrator | None:
        found = super().get_orchestrator(name)
        folded = self._fold(self.orchestrator_names, name) if found is None else None
        return super().get_orchestrator(folded) if folded else found

    def get_activity(self, name: str) -> Activity | None:
        found = super().get_activity(name)
        folded = self._fold(self.activity_names, name) if found is None else None
        return super().get_activity(folded) if folded else found


@dataclass
class HostedApp:
    app: FunctionsApp
    names: FunctionNames
    functions: list[FunctionInfo]

    @property
    def http(self) -> list[FunctionInfo]:
        return [f for f in self.functions if f.skipped is None and f.trigger == "httpTrigger"]


def _all_names(info: FunctionInfo) -> list[str]:
    return [info.name, *info.aliases]


def _activity(info: FunctionInfo, runlog: RunLog) -> Callable[[ActivityContext, Any], Any]:
    from azure.functions import meta
    from azure.functions.durable_functions import ActivityTriggerConverter

    fn = info.fn
    assert fn is not None
    input_name = str(info.trigger_binding.get("name"))
    takes_context = "context" in inspect.signature(fn).parameters and input_name != "context"

    def arguments(ctx: ActivityContext, value: Any) -> dict[str, Any]:
        raw = value[0] if isinstance(value, list) and len(value) == 1 else value
        text = raw if isinstance(raw, str) else json.dumps(raw)
        kwargs = {
            input_name: ActivityTriggerConverter.decode(meta.Datum(text, "string"), trigger_metadata=None)
        }
        if takes_context:
            kwargs["context"] = _invocation_context(info, ctx)
        return kwargs

    def result(ret: Any) -> Any:
        datum = ActivityTriggerConverter.encode(ret, expected_type=None)
        return json.loads(datum.value)

    def failed(exc: Exception) -> ActivityFunctionError:
        return ActivityFunctionError(f"Activity function '{info.name}' failed: {exc}")

    def logged(ctx: ActivityContext) -> Any:
        reason = f"activity of instance {ctx.orchestration_id}"
        return runlog.run(info.name, reason, _invocation_id(ctx))

    if inspect.iscoroutinefunction(fn):

        async def run_async(ctx: ActivityContext, value: Any) -> Any:
            try:
                with logged(ctx):
                    return result(await fn(**arguments(ctx, value)))
            except Exception as exc:
                raise failed(exc) from exc

        return run_async

    def run(ctx: ActivityContext, value: Any) -> Any:
        try:
            with logged(ctx):
                return result(fn(**arguments(ctx, value)))
        except Exception as exc:
            raise failed(exc) from exc

    return run


class _InvocationContext:
    """The ``func.Context`` a function gets for a parameter named ``context`` with no binding."""

    def __init__(self, invocation_id: str, function_name: str, function_directory: str) -> None:
        self.invocation_id = invocation_id
        self.function_name = function_name
        self.function_directory = function_directory
        self.trace_context = None
        self.retry_context = None


def _invocation_id(ctx: ActivityContext) -> str:
    return f"{ctx.orchestration_id}:{ctx.task_id}"


def _invocation_context(info: FunctionInfo, ctx: ActivityContext) -> _InvocationContext:
    return _InvocationContext(_invocation_id(ctx), info.name, "")


def _entity(info: FunctionInfo, runlog: RunLog) -> Callable[[EntityContext, Any], Any]:
    fn = info.fn
    assert fn is not None

    def run(ctx: EntityContext, value: Any) -> Any:
        with runlog.run(info.name, f"operation {ctx.operation_name} on {ctx.entity_id}"):
            return operation(ctx, value)

    def operation(ctx: EntityContext, value: Any) -> Any:
        state = json.dumps(ctx.get_state()) if ctx.has_state else None
        batch = {
            "self": {"name": ctx.entity_id.name, "key": ctx.entity_id.key},
            "exists": ctx.has_state,
            "state": state,
            "batch": [
                {
                    "name": ctx.operation_name,
                    "input": None if value is None else json.dumps(value),
                    "isSignal": False,
                }
            ],
        }
        reply = json.loads(fn(json.dumps(batch)))
        if reply.get("entityExists"):
            text = reply.get("entityState")
            ctx.set_state(None if text is None else json.loads(text))
        elif ctx.has_state:
            ctx.delete_state()
        results = reply.get("results") or [{}]
        outcome = results[0]
        text = outcome.get("result")
        result = None if text is None else json.loads(text)
        if outcome.get("isError"):
            raise EntityOperationError(str(result))
        return result

    return run


def build_app(functions: list[FunctionInfo], runlog: RunLog | None = None) -> HostedApp:
    """Register the functions this host runs; skipped ones stay out. ``runlog`` writes a line as each
    function run starts and ends (``taskhub func start``; by default nothing is written)."""
    runlog = runlog or RunLog()
    run = [f for f in functions if f.skipped is None]
    by_kind = {
        kind: [n for f in run if f.trigger == trigger for n in _all_names(f)]
        for kind, trigger in (
            ("orchestrator", "orchestrationTrigger"),
            ("activity", "activityTrigger"),
            ("entity", "entityTrigger"),
        )
    }
    names = FunctionNames(by_kind["orchestrator"], by_kind["activity"], by_kind["entity"])
    app = FunctionsApp()
    for info in run:
        for name in dict.fromkeys(_all_names(info)):
            if info.trigger == "orchestrationTrigger" and app.get_orchestrator(name) is None:
                assert info.fn is not None
                app.orchestrator(name=name)(SdkOrchestrator(info.name, info.fn, names, runlog))
            elif info.trigger == "activityTrigger" and app.get_activity(name) is None:
                app.activity(name=name)(_activity(info, runlog))
            elif info.trigger == "entityTrigger" and app.get_entity(name) is None:
                app.entity(name=name)(_entity(info, runlog))
    return HostedApp(app, names, functions)


def load_functions_app(root: Path, settings: Mapping[str, str] | None = None) -> FunctionsApp:
    """The App of the Durable Functions app in ``root``, for a worker of this project's own API
    (``Worker(load_functions_app(path), settings)``) serving the same hub as ``taskhub func start``."""
    import os

    from worker.functions.discovery import discover

    return build_app(discover(root, os.environ if settings is None else settings)).app
