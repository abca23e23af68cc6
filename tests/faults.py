"""Fault injection for tests: wrappers that only tests install; production code has no fault hook.

* :class:`StorageFaults` is a :class:`~taskhub.storage.base.CallInterceptor`: installed as
  ``Storage.interceptor``, it makes chosen storage calls fail. Its plan is comma-separated
  ``op:nth:kind[:match]`` items: the ``nth`` call of the storage operation ``op`` (a method of
  :class:`~taskhub.storage.Storage`, e.g. ``send_message``) whose first argument (a queue or table
  name) contains ``match`` fails instead of reaching the service. ``kind`` is ``500`` (the service
  answers 500 Internal Server Error) or ``hang`` (no answer until the read timeout, :data:`HANG_SECONDS`,
  then a ``ServiceResponseError`` as azure-core raises it).
* :func:`exit_at` is a checkpoint step observer
  (``worker.backends.azure_storage.checkpoint.step_observer``) that ends the
  process with :data:`FAULT_EXIT_CODE` at one step of its first checkpoint that reaches it; its step
  ``in_group`` is a group-commit step observer (``worker.pipeline.group_commit.step_observer``) that
  ends it after the first step a group decided in memory, before anything of the group is committed.
* :func:`install_from_env` installs both from :data:`STORAGE_FAULT_ENV` and :data:`CHECKPOINT_FAULT_ENV`;
  worker processes get them through ``python -m tests.process.fault_worker`` (the ``taskhub`` command
  with the faults of its environment installed).

Each injected fault logs one line (``storage.fault_injected`` / ``checkpoint.fault_injected``) that the
process tests look for.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, get_args

from azure.core.exceptions import HttpResponseError, ServiceResponseError

from taskhub.storage import Storage
from worker.backends.azure_storage import checkpoint
from worker.pipeline import group_commit

__all__ = [
    "CHECKPOINT_FAULT_ENV",
    "FAULT_EXIT_CODE",
    "HANG_SECONDS",
    "STORAGE_FAULT_ENV",
    "StorageFaults",
    "exit_at",
    "exit_in_group",
    "IN_GROUP",
    "install_from_env",
]

log = logging.getLogger(__name__)

CHECKPOINT_FAULT_ENV = "TASKHUB_TEST_FAULT"
"""A checkpoint step (after_outbound, after_history, after_instance, before_delete) or ``in_group``: exit there."""
IN_GROUP = "in_group"
STORAGE_FAULT_ENV = "TASKHUB_TEST_STORAGE_FAULT"
"""A :class:`StorageFaults` plan."""
FAULT_EXIT_CODE = 86
HANG_SECONDS = 30.0
"""The read timeout the storage clients are built with (``taskhub.storage.account``)."""

STEPS: tuple[str, ...] = get_args(checkpoint.CheckpointStep)


class StorageFaults:
    """Make the planned storage calls fail (see the module docstring for the plan's format)."""

    def __init__(self, plan: str) -> None:
        self.items: list[tuple[str, str, int, str, str]] = []
        for item in plan.split(","):
            parts = item.strip().split(":")
            if len(parts) not in (3, 4) or not parts[1].isdigit() or parts[2] not in ("500", "hang"):
                raise ValueError(f"bad storage fault {item!r}: expected op:nth:500|hang[:match]")
            self.items.append((item.strip(), parts[0], int(parts[1]), parts[2], parts[3] if len(parts) > 3 else ""))
        self.seen: collections.Counter[str] = collections.Counter()
        self.injected: list[tuple[str, str, str]] = []
        """(operation, target, kind) of every fault raised so far."""

    async def before_call(self, operation: str, args: tuple[Any, ...]) -> None:
        target = str(args[1]) if len(args) > 1 and isinstance(args[1], str) else ""
        for key, op, nth, kind, match in self.items:
            if op != operation or match not in target:
                continue
            self.seen[key] += 1
            if self.seen[key] != nth:
                continue
            self.injected.append((operation, target, kind))
            log.warning("storage.fault_injected op=%s target=%s kind=%s pid=%d", operation, target, kind, os.getpid())
            if kind == "hang":
                await asyncio.sleep(HANG_SECONDS)
                raise ServiceResponseError("injected: no response within the read timeout")
            err = HttpResponseError(message="injected: the server answered 500 Internal Server Error")
            err.status_code = 500
            raise err


def exit_at(step: str) -> Callable[[checkpoint.CheckpointStep], None]:
    """A checkpoint step observer that ends this process at once (no cleanup, like a crash) at ``step``."""
    if step not in STEPS:
        raise ValueError(f"bad checkpoint fault {step!r}: expected one of {', '.join(STEPS)}, or {IN_GROUP}")

    def observe(reached: checkpoint.CheckpointStep) -> None:
        if reached == step:
            log.error("checkpoint.fault_injected step=%s pid=%d", step, os.getpid())
            os._exit(FAULT_EXIT_CODE)

    return observe


def install_from_env(environ: Mapping[str, str]) -> None:
    """Install the faults ``environ`` asks for, for every storage and checkpoint of this process."""
    plan = environ.get(STORAGE_FAULT_ENV)
    if plan:
        Storage.interceptor = StorageFaults(plan)
    step = environ.get(CHECKPOINT_FAULT_ENV)
    if step == IN_GROUP:
        group_commit.step_observer = exit_in_group
    elif step:
        checkpoint.step_observer = exit_at(step)


def exit_in_group(steps: int) -> None:
    """A group-commit step observer that ends this process at once after the first step decided in memory."""
    log.error("checkpoint.fault_injected step=%s steps=%d pid=%d", IN_GROUP, steps, os.getpid())
    os._exit(FAULT_EXIT_CODE)
