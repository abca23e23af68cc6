"""Fixtures of the end-to-end tier: a real worker and a real client on a fresh hub in the session's Azurite.

``e2e`` (function scope) gives an :class:`E2E` with a started in-process ``worker.Worker`` serving the
test module's ``app`` (or the App named by ``@pytest.mark.app(some_app)``; ``@pytest.mark.app(None)``
starts none) and a ``TaskHubClient``, both on settings that poll every 0.5 s at most. When the test
ends, the worker is stopped (drained) and :func:`tests.format_check.check_hub_format` checks every
row, message and blob the test left in the hub.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings
from taskhub.format.history import EventType, HistoryEvent
from taskhub.model.app import App
from tests.format_check import FormatReport, check_hub_format
from tests.helpers import wait_for
from worker import Worker

FAST_POLL = timedelta(milliseconds=500)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "app(app): the taskhub.App the e2e fixture's worker serves (None: no worker)"
    )


@pytest.fixture
def e2e_settings(settings: Settings) -> Settings:
    """The test's hub, polled at most every 0.5 s (the default 30 s would make every test slow)."""
    return settings.with_overrides(max_queue_polling_interval=FAST_POLL)


@dataclass
class E2E:
    settings: Settings
    client: TaskHubClient
    workers: list[Worker] = field(default_factory=list)
    ignore_message: Callable[[str], bool] | None = None
    """Queue bodies the final format check skips (messages a test put there on purpose)."""
    format_report: FormatReport | None = None

    @property
    def worker(self) -> Worker:
        return self.workers[-1]

    async def start_worker(self, app: App, settings: Settings | None = None) -> Worker:
        w = Worker(app, settings or self.settings)
        await w.start()
        self.workers.append(w)
        return w

    async def stop_workers(self) -> None:
        while self.workers:
            await self.workers.pop().stop()

    async def history(self, instance_id: str) -> list[HistoryEvent]:
        return await self.client.get_orchestration_history(instance_id)

    async def event_types(self, instance_id: str) -> list[str]:
        return [e.event_type.name for e in await self.history(instance_id)]

    async def wait_for_event(
        self,
        instance_id: str,
        event_type: EventType,
        count: int = 1,
        timeout: float = 20,
    ) -> list[HistoryEvent]:
        """Wait until the instance's history holds ``count`` events of ``event_type``; returns them."""

        async def seen() -> list[HistoryEvent]:
            state = await self.client.get_orchestration_state(instance_id, fetch_payloads=False)
            if state is None:
                return []
            found = [e for e in await self.history(instance_id) if e.event_type is event_type]
            return found if len(found) >= count else []

        return await wait_for(seen, timeout, 0.1, message=f"{count} x {event_type.name} in {instance_id}")


def _app_for(request: pytest.FixtureRequest) -> App | None:
    marker = request.node.get_closest_marker("app")
    if marker is not None:
        return marker.args[0]
    app: Any = getattr(request.module, "app", None)
    return app if isinstance(app, App) else None


@pytest.fixture
async def e2e(request: pytest.FixtureRequest, e2e_settings: Settings) -> AsyncIterator[E2E]:
    async with TaskHubClient(e2e_settings) as client:
        harness = E2E(e2e_settings, client)
        try:
            app = _app_for(request)
            if app is not None:
                await harness.start_worker(app)
            yield harness
        finally:
            await harness.stop_workers()
        harness.format_report = await check_hub_format(client.service.hub, ignore_message=harness.ignore_message)
