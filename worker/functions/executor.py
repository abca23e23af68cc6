"""``FunctionsExecutor``: a Durable Functions Python app behind the executor seam
(``worker.executors.base``).

The app's orchestrators are ``worker.functions.shim.SdkOrchestrator`` objects in a ``FunctionsApp``, run
in this process like any App's; what differs is the typed capability: the SDK computes its actions from
the whole history at once, so it never carries on in memory between episodes. Every episode replays,
as the Durable Functions extension does for out-of-process workers (it forces extended sessions off for
Python).
"""

from __future__ import annotations

from taskhub.model.app import App
from worker.executors.app import AppExecutor

__all__ = ["FunctionsExecutor"]


class FunctionsExecutor(AppExecutor):
    keeps_sessions: bool = False

    def __init__(self, app: App, *, max_threads: int = 10) -> None:
        super().__init__(app, max_threads=max_threads, keeps_sessions=False)
