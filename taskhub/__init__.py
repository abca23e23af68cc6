"""taskhub: durable orchestrations on Azure Storage, compatible with Azure Durable Functions.

The package holds what user code and tools touch: settings, the storage format and resources of a
task hub, the client, and the programming-model types. The runtime that executes orchestrations lives
in the separate ``worker`` package.

Public names are loaded lazily, so importing a pure module (``taskhub.format.names``) does not import the
Azure SDKs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # programming model
    "App": "taskhub.model.app",
    "OrchestrationContext": "taskhub.model.context",
    "ActivityContext": "taskhub.model.context",
    "Task": "taskhub.model.tasks",
    "when_all": "taskhub.model.tasks",
    "when_any": "taskhub.model.tasks",
    "RetryPolicy": "taskhub.model.tasks",
    "EntityId": "taskhub.model.entities",
    "EntityContext": "taskhub.model.entities",
    "EntityLock": "taskhub.model.entities",
    "compare_versions": "taskhub.model.versioning",
    "VersionMatchStrategy": "taskhub.model.versioning",
    "VersionFailureStrategy": "taskhub.model.versioning",
    # client
    "TaskHubClient": "taskhub.client.async_client",
    "SyncTaskHubClient": "taskhub.client.sync_client",
    "OrchestrationState": "taskhub.client.status",
    "Page": "taskhub.client.status",
    "PurgeResult": "taskhub.client.status",
    # settings and resources
    "Settings": "taskhub.config.settings",
    "StorageSettings": "taskhub.config.settings",
    "ConnectionInfo": "taskhub.config.settings",
    "TaskHub": "taskhub.hub.lifecycle",
    "HubNames": "taskhub.format.names",
    # history and status types
    "OrchestrationStatus": "taskhub.format.history",
    "FailureDetails": "taskhub.format.history",
    "HistoryEvent": "taskhub.format.history",
    "EventType": "taskhub.format.history",
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
    "EntityOperationFailedError": "taskhub.errors",
    "LockingRulesViolationError": "taskhub.errors",
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
    from taskhub.client.async_client import (
        TaskHubClient as TaskHubClient,
    )
    from taskhub.client.status import (
        OrchestrationState as OrchestrationState,
    )
    from taskhub.client.status import (
        Page as Page,
    )
    from taskhub.client.status import (
        PurgeResult as PurgeResult,
    )
    from taskhub.client.sync_client import (
        SyncTaskHubClient as SyncTaskHubClient,
    )
    from taskhub.config.settings import (
        ConnectionInfo as ConnectionInfo,
    )
    from taskhub.config.settings import (
        Settings as Settings,
    )
    from taskhub.config.settings import (
        StorageSettings as StorageSettings,
    )
    from taskhub.errors import (
        ConfigurationError as ConfigurationError,
    )
    from taskhub.errors import (
        EntityOperationFailedError as EntityOperationFailedError,
    )
    from taskhub.errors import (
        FormatError as FormatError,
    )
    from taskhub.errors import (
        LockingRulesViolationError as LockingRulesViolationError,
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
    from taskhub.format.history import (
        EventType as EventType,
    )
    from taskhub.format.history import (
        FailureDetails as FailureDetails,
    )
    from taskhub.format.history import (
        HistoryEvent as HistoryEvent,
    )
    from taskhub.format.history import (
        OrchestrationStatus as OrchestrationStatus,
    )
    from taskhub.format.names import (
        HubNames as HubNames,
    )
    from taskhub.hub.lifecycle import (
        TaskHub as TaskHub,
    )
    from taskhub.model.app import (
        App as App,
    )
    from taskhub.model.context import (
        ActivityContext as ActivityContext,
    )
    from taskhub.model.context import (
        OrchestrationContext as OrchestrationContext,
    )
    from taskhub.model.entities import (
        EntityContext as EntityContext,
    )
    from taskhub.model.entities import (
        EntityId as EntityId,
    )
    from taskhub.model.entities import (
        EntityLock as EntityLock,
    )
    from taskhub.model.tasks import (
        RetryPolicy as RetryPolicy,
    )
    from taskhub.model.tasks import (
        Task as Task,
    )
    from taskhub.model.tasks import (
        when_all as when_all,
    )
    from taskhub.model.tasks import (
        when_any as when_any,
    )
    from taskhub.model.versioning import (
        VersionFailureStrategy as VersionFailureStrategy,
    )
    from taskhub.model.versioning import (
        VersionMatchStrategy as VersionMatchStrategy,
    )
    from taskhub.model.versioning import (
        compare_versions as compare_versions,
    )
