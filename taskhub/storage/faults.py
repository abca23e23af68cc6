"""Test-only: make one storage call fail, in a real process, on a real Azurite.

``TASKHUB_TEST_STORAGE_FAULT`` holds comma-separated ``op:nth:kind[:match]`` items: the ``nth`` call
of the storage operation ``op`` (a method of :class:`~taskhub.storage.Storage`, e.g. ``send_message``)
whose first argument (a queue or table name) contains ``match`` fails instead of reaching the service.
``kind`` is ``500`` (the service answers 500 Internal Server Error) or ``hang`` (no answer until the
read timeout, :data:`HANG_SECONDS`, then a ``ServiceResponseError`` as azure-core raises it). Never set
in production.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceResponseError

__all__ = ["FAULT_ENV", "HANG_SECONDS", "maybe_fail"]

log = logging.getLogger(__name__)

FAULT_ENV = "TASKHUB_TEST_STORAGE_FAULT"
HANG_SECONDS = 30.0
"""The read timeout the clients are built with (``account``)."""

_seen: collections.Counter[str] = collections.Counter()


async def maybe_fail(operation: str, args: tuple[Any, ...]) -> None:
    """Raise the fault planned for this call, if any (a no-op unless the variable is set)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    target = str(args[1]) if len(args) > 1 and isinstance(args[1], str) else ""
    for item in spec.split(","):
        parts = item.strip().split(":")
        if len(parts) < 3 or parts[0] != operation:
            continue
        if len(parts) > 3 and parts[3] not in target:
            continue
        _seen[item] += 1
        if _seen[item] != int(parts[1]):
            continue
        log.warning("storage.fault_injected op=%s target=%s kind=%s pid=%d", operation, target, parts[2], os.getpid())
        if parts[2] == "hang":
            await asyncio.sleep(HANG_SECONDS)
            raise ServiceResponseError("injected: no response within the read timeout")
        err = HttpResponseError(message="injected: the server answered 500 Internal Server Error")
        err.status_code = 500
        raise err
