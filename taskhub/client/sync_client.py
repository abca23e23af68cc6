"""``SyncTaskHubClient``: the blocking twin of :class:`~taskhub.client.TaskHubClient`, for scripts and
the REPL. It owns a private event loop on a background thread and runs each async method there, so
there is one implementation of every operation."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings

__all__ = ["SyncTaskHubClient"]

T = TypeVar("T")

_METHODS = (
    "schedule_new_orchestration",
    "get_orchestration_state",
    "wait_for_orchestration_start",
    "wait_for_orchestration_completion",
    "raise_orchestration_event",
    "terminate_orchestration",
    "suspend_orchestration",
    "resume_orchestration",
    "rewind_orchestration",
    "restart_orchestration",
    "purge_orchestration",
    "purge_orchestrations_by",
    "query_orchestrations",
    "get_orchestration_history",
    "signal_entity",
    "get_entity",
    "query_entities",
    "clean_entity_storage",
)


class SyncTaskHubClient:
    """Blocking client: ``with SyncTaskHubClient() as c: c.schedule_new_orchestration("x")``."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="taskhub-sync-client", daemon=True
        )
        self._thread.start()
        self._client: TaskHubClient = self._run(self._make(settings))
        self._closed = False

    @staticmethod
    async def _make(settings: Settings | None) -> TaskHubClient:
        return TaskHubClient(settings)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def settings(self) -> Settings:
        return self._client.settings

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> SyncTaskHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                self.close()


def _blocking(name: str) -> Callable[..., Any]:
    async_method = getattr(TaskHubClient, name)

    @functools.wraps(async_method)
    def method(self: SyncTaskHubClient, *args: Any, **kwargs: Any) -> Any:
        return self._run(getattr(self._client, name)(*args, **kwargs))

    return method


for _name in _METHODS:
    setattr(SyncTaskHubClient, _name, _blocking(_name))
