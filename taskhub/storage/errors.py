"""SDK errors -> :class:`~taskhub.errors.StorageError` with a kind; the ``op`` decorator that also counts calls."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableTransactionError

from taskhub.errors import StorageError, StorageErrorKind
from taskhub.telemetry import metrics

__all__ = ["op"]

P = ParamSpec("P")
T = TypeVar("T")

_LEASE_LOST_CODES = {
    "LeaseLost",
    "LeaseIdMismatchWithLeaseOperation",
    "LeaseIdMismatchWithBlobOperation",
    "LeaseIdMismatchWithContainerOperation",
    "LeaseNotPresentWithLeaseOperation",
    "LeaseNotPresentWithBlobOperation",
    "LeaseNotPresentWithContainerOperation",
    "LeaseIdMissing",
    "LeaseIsBrokenAndCannotBeRenewed",
    "LeaseIsBreakingAndCannotBeAcquired",
    "LeaseIsBreakingAndCannotBeChanged",
}


def _classify(err: AzureError, operation: str) -> StorageError:
    """Translate an SDK exception into a StorageError with a kind."""
    status = getattr(err, "status_code", None)
    code = getattr(err, "error_code", None)
    if code is None and isinstance(err, HttpResponseError) and err.response is not None:
        code = getattr(err.response, "headers", {}).get("x-ms-error-code")
    code = getattr(code, "value", code)  # the queue SDK gives an enum (StorageErrorCode.POP_RECEIPT_MISMATCH)
    code = str(code) if code else None
    if code in _LEASE_LOST_CODES:
        kind = StorageErrorKind.LEASE_LOST
    elif isinstance(err, ResourceNotFoundError) or status == 404 or code == "PopReceiptMismatch":
        kind = StorageErrorKind.NOT_FOUND
    elif isinstance(err, ResourceModifiedError) or status == 412:
        kind = StorageErrorKind.PRECONDITION_FAILED
    elif isinstance(err, ResourceExistsError) or status == 409:
        kind = StorageErrorKind.CONFLICT
    elif isinstance(err, (ServiceRequestError, ServiceResponseError)) and status is None:
        kind = StorageErrorKind.UNREACHABLE
    elif status in (429, 503) or code == "ServerBusy":
        kind = StorageErrorKind.THROTTLED
    else:
        kind = StorageErrorKind.OTHER
    if isinstance(err, ServiceRequestError):
        message = f"cannot reach the storage service ({_first_line(err)}); is Azurite running?"
    else:
        message = _first_line(err)
    return StorageError(kind, message, status=status, code=code, operation=operation)


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "message", None) or err) or type(err).__name__
    return text.strip().splitlines()[0][:300]


def _counted(err: StorageError) -> StorageError:
    metrics.count("taskhub_storage_errors_total", op=err.operation or "", kind=err.kind.value)
    return err


def op(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Count the call under the method's name, await the storage's interceptor (tests only), and
    translate SDK errors."""
    name = fn.__name__

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        self = args[0]
        self.calls[name] += 1  # type: ignore[attr-defined]
        try:
            await self._intercept(name, args)  # type: ignore[attr-defined]
            result = await fn(*args, **kwargs)
        except (TableTransactionError, AzureError) as err:
            classified = _counted(_classify(err, name))
            conditions = getattr(self, "conditions", None)
            if conditions is not None:
                conditions.failing(classified)  # an outage starts at its first failed call
            raise classified from err
        conditions = getattr(self, "conditions", None)
        if conditions is not None:
            conditions.succeeded()  # ends an outage (and says so once)
        return result

    return wrapper
