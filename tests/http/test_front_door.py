"""The front door (issue 19): a web page in the developer's browser, a rebound DNS name, a stray
``?taskHub=`` and a leaked key get nowhere; the Durable Functions client and curl-style calls still do."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from taskhub.client.async_client import TaskHubClient
from taskhub.client.hubs import HubClients
from taskhub.http import create_app
from taskhub.http.server import check_key
from tests.helpers import wait_for
from tests.http.conftest import Api

EVIL = "http://evil.example"


async def _running(api: Api, iid: str) -> None:
    await api.client.schedule_new_orchestration(
        "approval_workflow", input={"proposal": "x", "timeout_seconds": 600}, instance_id=iid
    )
    await api.client.wait_for_orchestration_start(iid, timeout=30)


async def _status(api: Api, iid: str) -> str | None:
    state = await api.client.get_orchestration_state(iid)
    return state.runtime_status.value if state else None


async def test_a_web_page_cannot_steer_the_api(api: Api) -> None:
    await _running(api, "victim")
    terminate = f"{api.hooks}/instances/victim/terminate?reason=x"
    page_headers = [
        {"Origin": EVIL, "Content-Type": "text/plain"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ]
    for headers in page_headers:
        async with api.session.post(terminate, data="x", headers=headers) as r:
            assert r.status == 403, headers
            assert "another web site" in (await r.json())["Message"]
    async with api.session.post(
        f"{api.hooks}/orchestrators/chaining/from-page", json=1, headers={"Origin": EVIL}
    ) as r:
        assert r.status == 403
    async with api.session.post(
        f"{api.hooks}/entities/counter/k?op=add",
        data="1",
        headers={"Origin": EVIL, "Content-Type": "text/plain"},
    ) as r:
        assert r.status == 403
    async with api.session.delete(
        f"{api.hooks}/instances/victim", headers={"Sec-Fetch-Site": "cross-site"}
    ) as r:
        assert r.status == 403
    assert await _status(api, "victim") == "Running"
    assert await _status(api, "from-page") is None
    # the server's own pages (same origin) and programs (no Origin) are served
    async with api.session.post(
        terminate, headers={"Origin": api.base, "Sec-Fetch-Site": "same-origin"}
    ) as r:
        assert r.status == 202
    await api.client.wait_for_orchestration_completion("victim", timeout=30)
    assert await _status(api, "victim") == "Terminated"


async def test_json_routes_refuse_bodies_that_are_not_json(api: Api) -> None:
    start = f"{api.hooks}/orchestrators/chaining/typed"
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        async with api.session.post(start, data="5", headers={"Content-Type": ctype}) as r:
            assert r.status == 415, ctype
            assert "Content-Type: application/json" in (await r.json())["Message"]
    assert await _status(api, "typed") is None
    async with api.session.post(start, data="5", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 202
    async with api.session.post(f"{api.hooks}/orchestrators/chaining/no-body") as r:  # curl -X POST
        assert r.status == 202


async def test_a_rebound_host_name_gets_nothing(api: Api) -> None:
    port = api.base.rsplit(":", 1)[1]
    for path in ("/runtime/webhooks/durabletask/instances", "/dashboard/", "/openapi.json"):
        async with api.session.get(api.base + path, headers={"Host": f"rebind.evil.example:{port}"}) as r:
            assert r.status == 421, path
            assert "--allowed-host" in (await r.json())["Message"]
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"0.0.0.0:{port}"):
            async with api.session.get(api.base + path, headers={"Host": host}) as r:
                assert r.status == 200, (path, host)
    async with api.session.get(api.base + "/openapi.json", headers={"Host": "localhost:1"}) as r:
        assert r.status == 421  # a loopback name, but not this server's port


async def test_allowed_hosts_are_answered_and_locations_use_them(fast_settings) -> None:
    server = TestServer(
        create_app(fast_settings, allowed_hosts=frozenset({"tasks.example"})), host="127.0.0.1"
    )
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as s:
            url = str(server.make_url("/runtime/webhooks/durabletask/orchestrators/chaining"))
            async with s.post(url, json=1, headers={"Host": "tasks.example"}) as r:
                assert r.status == 202
                assert r.headers["Location"].startswith("http://tasks.example/runtime/webhooks/durabletask/")
            async with s.post(url, json=1, headers={"Host": "other.example"}) as r:
                assert r.status == 421
    finally:
        await server.close()


async def test_an_unknown_task_hub_is_404_and_creates_nothing(api: Api) -> None:
    ghost = api.client.settings.hub_name + "Ghost"
    for method, path in (
        ("POST", "/orchestrators/chaining/x"),
        ("GET", "/instances"),
        ("GET", "/instances/x"),
        ("POST", "/entities/counter/k?op=add"),
        ("DELETE", "/instances/x"),
    ):
        sep = "&" if "?" in path else "?"
        async with api.session.request(method, f"{api.hooks}{path}{sep}taskHub={ghost}", json=1) as r:
            assert r.status == 404, (method, path)
            assert ghost in (await r.json())["Message"]
    async with api.session.get(f"{api.base}/dashboard/?taskHub={ghost}") as r:
        assert r.status == 404 and ghost in await r.text()
    storage = api.client.service.hub.storage
    assert await storage.list_tables(ghost) == []
    assert all(not q.lower().startswith(ghost.lower()) for q in await storage.list_queues(""))


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_200_distinct_hub_names_hold_no_resources(api: Api) -> None:
    async with api.session.get(f"{api.hooks}/instances") as r:
        assert r.status == 200  # the server's own client is open
    fds, rss = _open_fds(), _rss_kib()
    for i in range(200):
        async with api.session.get(f"{api.hooks}/instances?taskHub=Probe{i}Hub") as r:
            assert r.status == 404
    grown_fds, grown_rss = _open_fds() - fds, _rss_kib() - rss
    print(f"200 distinct ?taskHub= GETs: open files {fds} -> {fds + grown_fds}, RSS +{grown_rss} KiB")
    assert grown_fds <= 3


async def test_open_hub_clients_are_bounded_and_closed(settings) -> None:
    names = [settings.hub_name + s for s in ("A", "B", "C")]
    for name in names:
        async with TaskHubClient(settings.with_overrides(hub_name=name)) as c:
            await c.service.hub.create_if_not_exists()
    closed: list[str] = []

    class Tracked(TaskHubClient):
        async def close(self) -> None:
            closed.append(self.settings.hub_name)
            await super().close()

    hubs = HubClients(settings, max_open=2, factory=Tracked)
    async with hubs.request():
        held = await hubs.client(names[0])
        async with hubs.request():
            await hubs.client(names[1])
            await hubs.client(names[2])  # evicts names[0], still in use by the outer request
        assert closed == [] and hubs.open_count == 4
        assert await held.get_orchestration_state("nothing") is None  # still usable
    await wait_for(lambda: closed == [names[0]], 10, message="the evicted client is closed after use")
    await hubs.close()
    assert sorted(closed) == sorted([names[0], settings.hub_name, *names[1:]])


async def test_the_key_is_in_no_location_body_or_log_line(
    fast_settings, caplog: pytest.LogCaptureFixture
) -> None:
    key = "leak-test-key-0123456789"
    server = TestServer(create_app(fast_settings, key=key), host="127.0.0.1")
    await server.start_server()
    caplog.set_level(logging.DEBUG)
    try:
        async with aiohttp.ClientSession() as s:
            hooks = str(server.make_url("/runtime/webhooks/durabletask"))
            async with s.post(f"{hooks}/orchestrators/chaining/leak?code={key}", json=1) as r:
                assert r.status == 202
                assert key not in r.headers["Location"] and key not in await r.text()
            async with s.get(f"{hooks}/instances/leak?code={key}&showInput=true") as r:
                assert key not in r.headers.get("Location", "") and key not in await r.text()
                if r.status == 202:
                    assert "showInput=true" in r.headers["Location"]
            async with s.get(f"{hooks}/instances/leak?code={key}&taskHub={fast_settings.hub_name}Nope") as r:
                assert r.status == 404 and key not in await r.text()
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(
            f"GET /runtime/webhooks/durabletask/instances?code={key}&x={'a' * 9000} HTTP/1.1\r\n".encode()
        )
        writer.write(b"Host: 127.0.0.1\r\n\r\n")
        await writer.drain()
        head = await reader.read(200)
        writer.close()
        assert head.startswith(b"HTTP/1.") and b" 400 " in head
    finally:
        await server.close()
    lines = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert any("too long" in line or "more than" in line for line in lines), lines
    assert not [line for line in lines if key in line]
    assert not [r for r in caplog.records if r.exc_info]


def test_a_short_or_blank_key_is_refused_with_one_line() -> None:
    for bad in ("k", "short-key", "has a space in it ok", "tab\tseparated-key-123"):
        with pytest.raises(ValueError, match="at least 16 printable characters") as err:
            check_key(bad)
        assert "\n" not in str(err.value)
    assert check_key("a-good-key-0123456789") == "a-good-key-0123456789"
