"""The project's one exception tree.

::

    TaskHubError
    ├── ConfigurationError            bad host.json / environment / connection settings (also a ValueError)
    │   └── ConfigurationFileError    host.json / local.settings.json missing, unreadable or not JSON
    ├── FormatError                   a queue message or table row that does not follow the storage format
    ├── StorageError                  any Azure Storage failure, classified by ``kind``
    ├── OrchestrationNotFoundError    no instance with that id
    ├── OrchestrationAlreadyExistsError  an active instance already has that id
    ├── OrchestrationStateError       the instance's status does not allow the operation
    ├── TaskFailedError               an activity or sub-orchestration failed (``.details``)
    ├── EntityOperationFailedError    an entity operation called by an orchestration failed (``.details``)
    ├── LockingRulesViolationError    a critical section broke the locking rules (entities.md 3)
    ├── NonDeterminismError           replay diverged from the recorded history
    └── FunctionAppError              a Durable Functions app `taskhub func start` cannot host (also a ValueError)

User-facing code catches ``TaskHubError`` for anything the hub raises. Argument errors that are plain
programming mistakes (an invalid instance id, a value that is not JSON) raise ``ValueError`` /
``TypeError`` as Python users expect.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from taskhub.format.history import FailureDetails

__all__ = [
    "TaskHubError",
    "ConfigurationError",
    "ConfigurationFileError",
    "FormatError",
    "StorageError",
    "StorageErrorKind",
    "OrchestrationNotFoundError",
    "OrchestrationAlreadyExistsError",
    "OrchestrationStateError",
    "TaskFailedError",
    "EntityOperationFailedError",
    "LockingRulesViolationError",
    "NonDeterminismError",
    "FunctionAppError",
]


class TaskHubError(Exception):
    """Root of every error the task hub raises on purpose."""


class ConfigurationError(TaskHubError, ValueError):
    """Invalid settings. The message names the key, the value and the rule, on one line."""

    def __init__(self, key: str, value: Any, rule: str) -> None:
        self.key = key
        self.value = value
        self.rule = rule
        shown = "<hidden>" if _looks_secret(key) else repr(value)
        super().__init__(f"{key}: {shown} is invalid: {rule}")


class ConfigurationFileError(ConfigurationError):
    """A settings file that is missing, unreadable or not valid JSON; the message names the file and,
    for bad JSON, the line and column: ``host.json line 3 column 5: not valid JSON: a comma is missing ...``."""

    def __init__(self, path: str, problem: str, *, line: int | None = None, column: int | None = None) -> None:
        self.path = path
        self.line = line
        self.column = column
        where = f"{path} line {line} column {column}" if line is not None else path
        super().__init__(path, None, problem)
        self.args = (f"{where}: {problem}",)

    def __str__(self) -> str:
        return str(self.args[0])


def _looks_secret(key: str) -> bool:
    k = key.lower()
    return any(word in k for word in ("secret", "key", "connection", "password", "sas", "token"))


class FormatError(TaskHubError, ValueError):
    """Data read from storage that does not follow the DurableTask.AzureStorage format."""


class StorageErrorKind(str, enum.Enum):
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    PRECONDITION_FAILED = "precondition_failed"
    LEASE_LOST = "lease_lost"
    UNREACHABLE = "unreachable"
    """No connection, or no answer in time: the storage (or the network to it) is down."""
    THROTTLED = "throttled"
    """429 or 503 (server busy): the storage asks to slow down."""
    OTHER = "other"


class StorageError(TaskHubError):
    """An Azure Storage call failed. ``kind`` says how; ``status`` and ``code`` are the service's words."""

    def __init__(
        self,
        kind: StorageErrorKind,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        operation: str | None = None,
    ) -> None:
        self.kind = kind
        self.status = status
        self.code = code
        self.operation = operation
        where = f"{operation}: " if operation else ""
        suffix = f" (HTTP {status}{' ' + code if code else ''})" if status else ""
        super().__init__(f"{where}{message}{suffix}")

    @property
    def not_found(self) -> bool:
        return self.kind is StorageErrorKind.NOT_FOUND

    @property
    def conflict(self) -> bool:
        return self.kind is StorageErrorKind.CONFLICT

    @property
    def precondition_failed(self) -> bool:
        return self.kind is StorageErrorKind.PRECONDITION_FAILED

    @property
    def lease_lost(self) -> bool:
        return self.kind is StorageErrorKind.LEASE_LOST


class OrchestrationNotFoundError(TaskHubError, LookupError):
    """No orchestration instance with the given id exists in this task hub."""

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        super().__init__(f"no orchestration instance with id {instance_id!r} in this task hub")


class OrchestrationAlreadyExistsError(TaskHubError):
    """An instance with this id is still Pending, Running or Suspended."""

    def __init__(self, instance_id: str, status: str) -> None:
        self.instance_id = instance_id
        self.status = status
        super().__init__(
            f"orchestration instance {instance_id!r} already exists and is {status}; "
            "only a finished instance (Completed, Failed, Terminated, Canceled) can be replaced"
        )


class OrchestrationStateError(TaskHubError):
    """The instance's status does not allow the operation (an event raised to a finished instance, a
    rewind of an instance that did not fail)."""

    def __init__(self, instance_id: str, status: str, operation: str, allowed: str) -> None:
        self.instance_id = instance_id
        self.status = status
        self.operation = operation
        super().__init__(f"cannot {operation} orchestration {instance_id!r}: it is {status}; {allowed}")


class TaskFailedError(TaskHubError):
    """An activity or sub-orchestration failed; ``details`` carries its ``FailureDetails``."""

    def __init__(self, message: str, details: FailureDetails) -> None:
        self.details = details
        super().__init__(message)


class NonDeterminismError(TaskHubError):
    """The orchestrator did something different from what its history records."""


class EntityOperationFailedError(TaskHubError):
    """An entity operation an orchestration called failed; ``details`` carries its ``FailureDetails``."""

    def __init__(self, entity_id: str, operation: str, details: FailureDetails) -> None:
        self.entity_id = entity_id
        self.operation = operation
        self.details = details
        super().__init__(f"operation {operation!r} of entity {entity_id!r} failed: {details}")


class LockingRulesViolationError(TaskHubError):
    """What an orchestration did inside (or around) a critical section is not allowed (entities.md 3)."""


class FunctionAppError(TaskHubError, ValueError):
    """A Durable Functions app that ``taskhub func start`` cannot load or run: a missing or broken
    function_app.py, two apps, a binding it does not support, a call to a function the app lacks. The
    message is one line saying what is wrong and what is allowed."""
