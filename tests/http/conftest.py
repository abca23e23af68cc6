"""A worker and the HTTP server on a real Azurite, per test."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from examples.all import app as functions
from examples.http_start import build
from taskhub.client.async_client import TaskHubClient
from worker import Worker


@dataclass
class Api:
    base: str  # http://127.0.0.1:port
    session: aiohttp.ClientSession
    client: TaskHubClient

    @property
    def hooks(self) -> str:
        return self.base + "/runtime/webhooks/durabletask"


@pytest.fixture
def fast_settings(settings):
    return settings.with_overrides(
        storage=dataclasses.replace(settings.storage, max_queue_polling_interval=timedelta(milliseconds=500))
    )


@pytest.fixture
async def api(fast_settings) -> AsyncIterator[Api]:
    server = TestServer(build(fast_settings), host="127.0.0.1")
    await server.start_server()
    async with (
        Worker(functions, fast_settings),
        TaskHubClient(fast_settings) as client,
        aiohttp.ClientSession() as session,
    ):
        yield Api(str(server.make_url("")).rstrip("/"), session, client)
    await server.close()
