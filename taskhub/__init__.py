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
    from taskhub.app import (
        App as App,
    )
    from taskhub.client import (
        TaskHubClient as TaskHubClient,
    )
    from taskhub.context import (
        ActivityContext as ActivityContext,
    )
    from taskhub.context import (
        OrchestrationContext as OrchestrationContext,
    )
    from taskhub.errors import (
        ConfigurationError as ConfigurationError,
    )
    from taskhub.errors import (
        FormatError as FormatError,
    )
    from taskhub.errors import (
        NonDeterminismError as NonDeterminismError,
    )
    from taskhub.errors import (
        OrchestrationAlreadyExistsError as OrchestrationAlreadyExistsError,
    )
    from taskhub.errors import (
        OrchestrationNotFoundError as OrchestrationNotFoundError,
    )
    from taskhub.errors import (
        StorageError as StorageError,
    )
    from taskhub.errors import (
        StorageErrorKind as StorageErrorKind,
    )
    from taskhub.errors import (
        TaskFailedError as TaskFailedError,
    )
    from taskhub.errors import (
        TaskHubError as TaskHubError,
    )
    from taskhub.history import (
        EventType as EventType,
    )
    from taskhub.history import (
        FailureDetails as FailureDetails,
    )
    from taskhub.history import (
        HistoryEvent as HistoryEvent,
    )
    from taskhub.history import (
        OrchestrationStatus as OrchestrationStatus,
    )
    from taskhub.hub import (
        TaskHub as TaskHub,
    )
    from taskhub.names import (
        HubNames as HubNames,
    )
    from taskhub.settings import (
        ConnectionInfo as ConnectionInfo,
    )
    from taskhub.settings import (
        Settings as Settings,
    )
    from taskhub.settings import (
        StorageSettings as StorageSettings,
    )
    from taskhub.status import (
        OrchestrationState as OrchestrationState,
    )
    from taskhub.status import (
        Page as Page,
    )
    from taskhub.status import (
        PurgeResult as PurgeResult,
    )
    from taskhub.sync_client import (
        SyncTaskHubClient as SyncTaskHubClient,
    )
    from taskhub.tasks import (
        RetryPolicy as RetryPolicy,
    )
    from taskhub.tasks import (
        Task as Task,
    )
    from taskhub.tasks import (
        when_all as when_all,
    )
    from taskhub.tasks import (
        when_any as when_any,
    )
