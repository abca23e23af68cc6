"""taskhub: durable orchestrations on Azure Storage, compatible with Azure Durable Functions.

The package holds what user code and tools touch: settings, the storage format and resources of a
task hub, the client, and the programming-model types. The runtime that executes orchestrations lives
in the separate ``worker`` package.

Public names are loaded lazily, so importing a pure module (``taskhub.names``) does not import the
Azure SDKs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # programming model
    "App": "taskhub.app",
    "OrchestrationContext": "taskhub.context",
    "ActivityContext": "taskhub.context",
    "Task": "taskhub.tasks",
    "when_all": "taskhub.tasks",
    "when_any": "taskhub.tasks",
    "RetryPolicy": "taskhub.tasks",
    # client
    "TaskHubClient": "taskhub.client",
    "SyncTaskHubClient": "taskhub.sync_client",
    "OrchestrationState": "taskhub.status",
    "Page": "taskhub.status",
    "PurgeResult": "taskhub.status",
    # settings and resources
    "Settings": "taskhub.settings",
    "StorageSettings": "taskhub.settings",
    "ConnectionInfo": "taskhub.settings",
    "TaskHub": "taskhub.hub",
    "HubNames": "taskhub.names",
    # history and status types
    "OrchestrationStatus": "taskhub.history",
    "FailureDetails": "taskhub.history",
    "HistoryEvent": "taskhub.history",
    "EventType": "taskhub.history",
    # errors
    "TaskHubError": "taskhub.errors",
    "ConfigurationError": "taskhub.errors",
    "FormatError": "taskhub.errors",
    "StorageError": "taskhub.errors",
    "StorageErrorKind": "taskhub.errors",
    "OrchestrationNotFoundError": "taskhub.errors",
    "OrchestrationAlreadyExistsError": "taskhub.errors",
    "TaskFailedError": "taskhub.errors",
    "NonDeterminismError": "taskhub.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'taskhub' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover
    from taskhub.app import App
    from taskhub.client import TaskHubClient
    from taskhub.context import ActivityContext, OrchestrationContext
    from taskhub.status import OrchestrationState, Page, PurgeResult
    from taskhub.sync_client import SyncTaskHubClient
    from taskhub.tasks import RetryPolicy, Task, when_all, when_any
    from taskhub.errors import (
        ConfigurationError,
        FormatError,
        NonDeterminismError,
        OrchestrationAlreadyExistsError,
        OrchestrationNotFoundError,
        StorageError,
        StorageErrorKind,
        TaskFailedError,
        TaskHubError,
    )
    from taskhub.history import EventType, FailureDetails, HistoryEvent, OrchestrationStatus
    from taskhub.hub import TaskHub
    from taskhub.names import HubNames
    from taskhub.settings import ConnectionInfo, Settings, StorageSettings
