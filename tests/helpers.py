"""Helpers shared by the tests: waiting on conditions, and the Azurite control module."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import TypeVar, cast

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent


async def wait_for(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = 10.0,
    interval: float = 0.05,
    *,
    message: str | None = None,
) -> T:
    """Poll predicate (sync or async) until it returns a truthy value, and return that value.

    Raises AssertionError when the deadline passes, naming the condition and the last value seen.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        outcome = predicate()
        value = cast(T, await outcome if inspect.isawaitable(outcome) else outcome)
        if value:
            return value
        if loop.time() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"condition {what!r} not met within {timeout} s (last value: {value!r})")
        await asyncio.sleep(interval)


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    """The blocking twin of wait_for, for sync tests (processes, files); never use it in a coroutine."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"condition {what!r} not met within {timeout} s (last value: {value!r})")
        time.sleep(interval)


def load_azurite_ctl() -> ModuleType:
    """azurite/azurite_ctl.py as the module ``azurite_ctl`` (it is a script, not an installed package)."""
    if "azurite_ctl" in sys.modules:
        return sys.modules["azurite_ctl"]
    path = REPO_ROOT / "azurite" / "azurite_ctl.py"
    spec = importlib.util.spec_from_file_location("azurite_ctl", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules["azurite_ctl"] = module  # dataclasses need the module registered while executing
    spec.loader.exec_module(module)
    return module
