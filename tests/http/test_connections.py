"""Connections and waiting requests (issue 19), on a real listening server (``start_site``): a start-and-
wait stops polling when its client goes away and when the server stops; slow and idle connections are
closed; an aborted upload is one log line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from multidict import MultiDict

from examples.http_start import build
from taskhub.http.params import ApiError, polling_interval
from taskhub.http.routes import ManagementApi
from taskhub.http.server import MANAGEMENT_API, start_site
from tests.helpers import wait_for


@dataclass
class Served:
    base: str
    runner: web.AppRunner
    api: ManagementApi

    @property
    def hooks(self) -> str:
        return self.base + "/runtime/webhooks/durabletask"


@pytest.fixture
async def served(fast_settings) -> AsyncIterator[Served]:
    app = build(fast_settings)
    runner = await start_site(app, "127.0.0.1", 0, connection_timeout=1.0)
    host, port = runner.addresses[0][:2]
    try:
        yield Served(f"http://{host}:{port}", runner, app[MANAGEMENT_API])
    finally:
        await runner.cleanup()


async def test_abandoned_waits_stop_polling(served: Served) -> None:
    body = {"proposal": "x", "timeout_seconds": 600}  # waits for an event that never comes
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.5)) as s:

        async def give_up(i: int) -> None:
            with contextlib.suppress(TimeoutError):
                await s.post(
                    f"{served.hooks}/orchestrators/approval_workflow/gone-{i}?timeout=3600", json=body
                )

        await asyncio.gather(*(give_up(i) for i in range(5)))
    await wait_for(lambda: served.api.waiting == 0, 15, message="every abandoned wait stopped polling")


async def test_a_stopping_server_answers_its_waits(served: Served) -> None:
    body = {"proposal": "x", "timeout_seconds": 600}
    async with aiohttp.ClientSession() as s:
        waiting = asyncio.create_task(
            s.post(
                f"{served.hooks}/orchestrators/approval_workflow/held?timeout=3600&pollingInterval=5",
                json=body,
            )
        )
        await wait_for(lambda: served.api.waiting == 1, 15, message="the wait started")
        stopping = asyncio.create_task(served.runner.cleanup())
        response = await asyncio.wait_for(waiting, 30)
        assert response.status == 202 and (await response.json())["id"] == "held"
        await asyncio.wait_for(stopping, 30)
    assert served.api.waiting == 0


async def test_slow_headers_and_idle_connections_are_closed(served: Served) -> None:
    host, port = served.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finishes its headers
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 15) == b""  # closed by the server
    writer.close()

    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    await writer.drain()
    first = await asyncio.wait_for(reader.readuntil(b"\r\n"), 15)
    assert b" 200 " in first
    rest = await asyncio.wait_for(reader.read(), 15)  # the body, then the idle connection is closed
    assert rest.endswith(b"}")
    writer.close()


async def test_an_aborted_upload_is_one_line(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    host, port = served.base.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /runtime/webhooks/durabletask/orchestrators/chaining HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n[1, 2, 3".encode()
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.transport.abort()
    await wait_for(lambda: any("client_gone" in r.getMessage() for r in caplog.records), 10)
    http_records = [r for r in caplog.records if r.name.startswith(("aiohttp", "taskhub.http"))]
    assert [r.getMessage().split()[0] for r in http_records] == ["http.client_gone"]
    assert not any(r.exc_info or r.exc_text for r in http_records)


def test_polling_interval_bounds() -> None:
    q: MultiDict[str] = MultiDict()
    assert polling_interval(q, 30) == 1.0  # Durable Functions' default
    assert polling_interval(MultiDict({"pollinginterval": "0.01"}), 30) == 0.5
    assert polling_interval(MultiDict({"pollinginterval": "7"}), 30) == 7
    for bad in ("40", "nan", "-1", "x"):
        with pytest.raises(ApiError):
            polling_interval(MultiDict({"pollinginterval": bad}), 30)
