"""The App of the versioning process test: ``tests.process.version_apps:app``.

``versioned`` calls an activity and a sub-orchestration (which inherits its version) and returns what
both saw: ``{"version": ctx.version, "child": <the child's ctx.version>, "doubled": 2 * x}``.
"""

from __future__ import annotations

from typing import Any

from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext

app = App()


@app.orchestrator
def versioned(ctx: OrchestrationContext, x: int):  # type: ignore[no-untyped-def]
    doubled = yield ctx.call_activity(double, input=x)
    child = yield ctx.call_sub_orchestrator(version_of)
    return {"version": ctx.version, "child": child, "doubled": doubled}


@app.orchestrator
def version_of(ctx: OrchestrationContext, _: Any) -> str:
    return ctx.version


@app.activity
def double(ctx: ActivityContext, x: int) -> int:
    return 2 * x
