"""``App``: the registry of a program's orchestrators and activities.

::

    app = App()

    @app.orchestrator                 # registered as "approval_workflow"
    def approval_workflow(ctx, proposal): ...

    @app.activity(name="process")     # every decorator also takes name=
    async def process_approval(ctx, approved): ...

Decorators return the function unchanged, so code calls functions by the object itself
(``ctx.call_activity(process_approval, ...)``) or by registered name. An orchestrator is a generator
function ``(ctx, input)`` or a plain function whose return value is the output; ``async def``
orchestrators are rejected (orchestrators wait by yielding tasks). An activity is ``(ctx, input)``,
sync or ``async def``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from taskhub.model.registry import Activity, Kind, Orchestrator, Registry

__all__ = ["App", "Orchestrator", "Activity"]

F = TypeVar("F", bound=Callable[..., Any])


class App(Registry):
    """Orchestrators and activities by registered name; names are case-sensitive and unique per kind.

    The decorators are here; what they fill, and its lookups, is :class:`~taskhub.model.registry.Registry`.
    """

    # --- registration -------------------------------------------------------------------------

    @overload
    def orchestrator(self, fn: F, /) -> F: ...
    @overload
    def orchestrator(self, fn: None = None, /, *, name: str | None = None) -> Callable[[F], F]: ...

    def orchestrator(self, fn: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
        """Register an orchestrator: ``@app.orchestrator`` or ``@app.orchestrator(name="x")``."""
        return self._decorate("orchestrator", fn, name)

    @overload
    def activity(self, fn: F, /) -> F: ...
    @overload
    def activity(self, fn: None = None, /, *, name: str | None = None) -> Callable[[F], F]: ...

    def activity(self, fn: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
        """Register an activity: ``@app.activity`` or ``@app.activity(name="x")``."""
        return self._decorate("activity", fn, name)

    @overload
    def entity(self, fn: F, /) -> F: ...
    @overload
    def entity(self, fn: None = None, /, *, name: str | None = None) -> Callable[[F], F]: ...

    def entity(self, fn: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
        """Register an entity, a function ``(ctx, input)`` (sync or async) or a class with one method per
        operation (``taskhub.model.entities``); entity names are lower-cased."""
        return self._decorate("entity", fn, name)

    def _decorate(self, kind: Kind, fn: F | None, name: str | None) -> F | Callable[[F], F]:
        if fn is None:

            def register(f: F) -> F:
                self._register(kind, f, name)
                return f

            return register
        self._register(kind, fn, name)
        return fn
