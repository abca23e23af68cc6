"""A worker running tests/dashboard/apps.py and `taskhub serve`'s app (API + dashboard) on a fresh hub in
the session's Azurite, per test (``dash``), plus helpers to read pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings
from taskhub.http.server import create_app
from tests.dashboard.apps import app as functions
from worker import Worker

FAST_POLL = timedelta(milliseconds=300)


@dataclass
class Dash:
    base: str
    session: aiohttp.ClientSession
    client: TaskHubClient
    settings: Settings

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.session.get(self.base + path, **kw) as r:
            return r.status, await r.text()

    async def csrf(self, path: str = "/dashboard/") -> str:
        """The CSRF token of a page's forms (the session keeps the matching cookie)."""
        import re

        _, text = await self.get(path)
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', text)
        assert found, "no CSRF token on " + path
        return found.group(1)


def fast(settings: Settings) -> Settings:
    return settings.with_overrides(max_queue_polling_interval=FAST_POLL)


@pytest.fixture
async def dash(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Dash]:
    s = fast(settings)
    options = getattr(request, "param", {}) or {}
    server = TestServer(create_app(s, **options), host="127.0.0.1")
    await server.start_server()
    async with (
        Worker(functions, s),
        TaskHubClient(s) as client,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,  # IP-address cookies
    ):
        yield Dash(str(server.make_url("")).rstrip("/"), session, client, s)
    await server.close()
