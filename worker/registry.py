"""Where executors and backends are registered: the one place a new one is added.

``executor_for(app, settings)``: the executor that runs ``app`` (the most specific registered App type
wins); ``backend_for(settings)``: the backend a worker's settings name. Each entry is a factory, imported
only when used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from taskhub.config.settings import Settings
from taskhub.model.app import App
from worker.backends.base import Backend
from worker.executors.base import Executor

__all__ = ["executor_for", "backend_for", "EXECUTORS", "BACKENDS", "DEFAULT_BACKEND"]

EXECUTORS: list[tuple[str, str]] = [
    ("worker.functions.app:FunctionsApp", "worker.functions.executor:FunctionsExecutor"),
    ("taskhub.model.app:App", "worker.executors.app:AppExecutor"),
]
"""(App type, executor type), most specific first: an App of that type runs through that executor."""


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def executor_for(app: App, settings: Settings | None = None) -> Executor:
    """The registered executor for ``app``; ``settings`` sizes its activity threads."""
    threads = settings.max_concurrent_activity_functions if settings is not None else 10
    for app_type, executor_type in EXECUTORS:
        if isinstance(app, _load(app_type)):
            make: Callable[..., Executor] = _load(executor_type)
            return make(app, max_threads=threads)
    raise TypeError(f"no executor is registered for {type(app).__name__}")


BACKENDS: dict[str, str] = {
    "AzureStorage": "worker.backends.azure_storage.backend:AzureStorageBackend",
}
"""host.json ``storageProvider.type`` -> the backend that implements it."""
DEFAULT_BACKEND = "AzureStorage"


def backend_for(settings: Settings, provider: str = DEFAULT_BACKEND) -> Backend:
    """The registered backend for ``provider``, over the hub ``settings`` name."""
    path = BACKENDS.get(provider)
    if path is None:
        known = ", ".join(sorted(BACKENDS))
        raise ValueError(f"storage provider {provider!r} has no backend here; registered: {known}")
    backend: Backend = _load(path)(settings)
    return backend
