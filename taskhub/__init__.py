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
