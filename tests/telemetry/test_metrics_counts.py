"""What the counters count, against Azurite: a poison move, storage errors by kind, and ``/metrics`` on
``taskhub serve --metrics`` behind the server's key, with the hub's backlog."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from taskhub.config.settings import Settings
from taskhub.errors import StorageError
from taskhub.http.observe import add_metrics
from taskhub.http.server import CLIENT_FOR, create_app
from taskhub.hub.lifecycle import TaskHub
from taskhub.telemetry import metrics
from taskhub.telemetry.prometheus import render

KEY = "k" * 24


@pytest.fixture
def on() -> Iterator[metrics.Metrics]:
    yield metrics.enable()
    metrics.disable()


def _value(text: str, series: str, /, **labels: str) -> float | None:
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and m[1] == series and all(f'{k}="{v}"' in (m[2] or "") for k, v in labels.items()):
            return float(m[3])
    return None


async def test_poison_moves_and_storage_errors_are_counted(settings: Settings, on: metrics.Metrics) -> None:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        queue = hub.names.work_item_queue
        await hub.storage.send_message(queue, "not a DTFx message")
        [inbound] = await hub.queues.receive(queue, max_messages=1, visibility_timeout=timedelta(seconds=30))
        await hub.poison.move(inbound, "a test puts it aside")
        with pytest.raises(StorageError):
            await hub.storage.queue_length(hub.names.hub.lower() + "-no-such-queue")
    text = render(on)
    assert _value(text, "taskhub_poison_moves_total", queue=queue) == 1
    assert _value(text, "taskhub_storage_errors_total", op="queue_length", kind="not_found") == 1


async def test_serve_metrics_needs_the_key_and_shows_the_backlog(
    settings: Settings, on: metrics.Metrics
) -> None:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        for i in range(3):
            await hub.storage.send_message(hub.names.work_item_queue, f"waiting {i}")
    app = create_app(settings, key=KEY)
    add_metrics(app, app[CLIENT_FOR])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.make_url("/metrics")) as resp:
                assert resp.status == 401
            async with http.get(server.make_url("/metrics"), headers={"x-functions-key": KEY}) as resp:
                assert resp.status == 200
                text = await resp.text()
    finally:
        await server.close()
    assert _value(text, "taskhub_queue_messages", kind="workitems") == 3
    assert _value(text, "taskhub_queue_messages", kind="control") == 0
