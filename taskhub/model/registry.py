"""``Registry``: an app's functions by kind and registered name, both ways (the lookup half of ``App``).

:class:`~taskhub.model.app.App` adds the decorators that fill it; the worker reads it through the
lookups here (``get_orchestrator``, ``activity_names``, ...).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["Registry", "Orchestrator", "Activity", "Kind"]

Orchestrator = Callable[..., Any]
"""``(ctx: OrchestrationContext, input) -> generator | output``."""
Activity = Callable[..., Any]
"""``(ctx: ActivityContext, input) -> output`` (or an awaitable of it)."""

Kind = Literal["orchestrator", "activity", "entity"]


class Registry:
    """Orchestrators, activities and entities by registered name; names are case-sensitive (entity names
    lower case) and unique per kind."""

    def __init__(self) -> None:
        self._functions: dict[Kind, dict[str, Callable[..., Any]]] = {"orchestrator": {}, "activity": {}, "entity": {}}
        self._names: dict[Kind, dict[Callable[..., Any], str]] = {"orchestrator": {}, "activity": {}, "entity": {}}

    def _register(self, kind: Kind, fn: Callable[..., Any], name: str | None) -> None:
        if not callable(fn):
            raise TypeError(f"@app.{kind} needs a function, got {type(fn).__name__}: {fn!r:.80}")
        registered_name = getattr(fn, "__name__", None) if name is None else name
        if not isinstance(registered_name, str) or not registered_name:
            raise ValueError(
                f"{kind} name must be a non-empty string, got {registered_name!r} "
                f"(pass name= for callables without __name__)"
            )
        if kind == "entity":
            from taskhub.format.entities import check_entity_name

            registered_name = check_entity_name(registered_name)
        if kind == "orchestrator" and (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)):
            raise TypeError(
                f"orchestrator {registered_name!r} is an async function; orchestrators must be generator "
                "functions that yield tasks (`result = yield ctx.call_activity(...)`), or plain functions"
            )
        if registered_name in self._functions[kind]:
            raise ValueError(f"an {kind} named {registered_name!r} is already registered")
        if fn in self._names[kind]:
            raise ValueError(
                f"{_describe(fn)} is already registered as {kind} {self._names[kind][fn]!r}; "
                "register each function once"
            )
        self._functions[kind][registered_name] = fn
        self._names[kind][fn] = registered_name
        # lets a client (which has no App) start an orchestrator given as a function object
        with contextlib.suppress(AttributeError, TypeError):
            fn.__taskhub_name__ = registered_name  # type: ignore[attr-defined]

    # --- lookup -------------------------------------------------------------------------------

    @property
    def orchestrator_names(self) -> list[str]:
        """Registered orchestrator names, sorted."""
        return sorted(self._functions["orchestrator"])

    @property
    def activity_names(self) -> list[str]:
        """Registered activity names, sorted."""
        return sorted(self._functions["activity"])

    @property
    def entity_names(self) -> list[str]:
        """Registered entity names (lower case), sorted."""
        return sorted(self._functions["entity"])

    def get_entity(self, name: str) -> Callable[..., Any] | None:
        """The entity function or class registered as ``name`` (matched lower-cased), or ``None``."""
        return self._functions["entity"].get(name.lower())

    def get_orchestrator(self, name: str) -> Orchestrator | None:
        """The orchestrator registered as ``name``, or ``None``."""
        return self._functions["orchestrator"].get(name)

    def get_activity(self, name: str) -> Activity | None:
        """The activity registered as ``name``, or ``None``."""
        return self._functions["activity"].get(name)

    def orchestrator_name(self, fn_or_name: str | Callable[..., Any]) -> str:
        """The registered name for a function or name (names pass through: they may live elsewhere)."""
        return self._resolve("orchestrator", fn_or_name)

    def activity_name(self, fn_or_name: str | Callable[..., Any]) -> str:
        """The registered name for a function or name (names pass through: they may live elsewhere)."""
        return self._resolve("activity", fn_or_name)

    def _resolve(self, kind: Kind, fn_or_name: str | Callable[..., Any]) -> str:
        if isinstance(fn_or_name, str):
            if not fn_or_name:
                raise ValueError(f"{kind} name must be a non-empty string")
            return fn_or_name
        if not callable(fn_or_name):
            raise TypeError(f"expected an {kind} function or name, got {type(fn_or_name).__name__}")
        try:
            return self._names[kind][fn_or_name]
        except (KeyError, TypeError):
            raise ValueError(
                f"{_describe(fn_or_name)} is not registered as an {kind} of this App; "
                f"decorate it with @app.{kind} or pass the registered name as a string"
            ) from None


def _describe(fn: Callable[..., Any]) -> str:
    qualname = getattr(fn, "__qualname__", None) or repr(fn)
    module = getattr(fn, "__module__", None)
    return f"function {module}.{qualname}" if module else f"function {qualname}"
