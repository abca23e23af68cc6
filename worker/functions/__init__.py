"""A functions-host room: running unmodified Azure Durable Functions Python apps (``taskhub func start``).

Pure parts: ``history_json`` (our history -> the SDK's orchestrator ``context`` JSON), ``reply`` (the
SDK's ``OrchestratorState`` reply, validated), ``shim`` (the reply's actions replayed through our
``ReplayContext``, as the Durable Functions extension replays them through DTFx), ``retry`` (DTFx's
retry pattern). ``discovery`` finds an app's functions (v2 ``function_app.py``, v1 ``function.json``);
``app`` turns them into a ``taskhub.App`` the worker runs; ``http`` serves their HTTP triggers with the
durable client binding. The functions host is documented in docs/functions-host.md.
"""

from __future__ import annotations

__all__: list[str] = []
