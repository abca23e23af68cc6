"""The dashboard's sign-in and CSRF cookies (issue 19): the session expires and dies with the key, the
CSRF cookie is the server's own, and ``?code=`` never survives into a redirect or a page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from taskhub.config.settings import Settings
from taskhub.http.dashboard.security import CSRF_COOKIE, SESSION_COOKIE, SESSION_TTL, Guard
from taskhub.http.server import create_app

KEY = "first-key-0123456789"
OTHER_KEY = "second-key-0123456789"


@pytest.fixture
async def servers(settings: Settings) -> AsyncIterator[Callable[[str], object]]:
    started: list[TestServer] = []

    async def serve(key: str) -> str:
        server = TestServer(create_app(settings, key=key), host="127.0.0.1")
        await server.start_server()
        started.append(server)
        return str(server.make_url("")).rstrip("/")

    yield serve
    for server in started:
        await server.close()


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_the_key_leaves_every_url_and_page(servers) -> None:
    base = await servers(KEY)
    async with _session() as s:
        async with s.get(f"{base}/dashboard?code={KEY}&tz=UTC", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/dashboard/?tz=UTC"
            assert KEY not in r.headers["Set-Cookie"]
        async with s.get(f"{base}/dashboard/health") as r:
            assert r.status == 200 and KEY not in await r.text()
    async with _session() as s:
        async with s.get(f"{base}/dashboard?code=wrong-key", allow_redirects=False) as r:
            assert r.status == 308 and r.headers["Location"] == "/dashboard/"
        async with s.get(f"{base}/dashboard/health?code=wrong-key&tz=UTC", allow_redirects=False) as r:
            assert r.status == 303 and "code" not in r.headers["Location"]
        async with s.post(f"{base}/dashboard/start?code={KEY}", data={}, allow_redirects=False) as r:
            page = await r.text()
            assert r.status in (401, 403) and KEY not in page and "code=" not in page


async def test_a_session_dies_with_its_key(servers) -> None:
    first, second = await servers(KEY), await servers(OTHER_KEY)
    async with _session() as s:
        async with s.get(f"{first}/dashboard/?code={KEY}", allow_redirects=False) as r:
            assert r.status == 303
            session = r.cookies[SESSION_COOKIE].value
        async with s.get(f"{first}/dashboard/health") as r:
            assert r.status == 200
    # the same cookie at a server whose key has changed
    async with _session() as s, s.get(f"{second}/dashboard/health", cookies={SESSION_COOKIE: session}) as r:
        assert r.status == 401 and 'name="key"' in await r.text()


def test_a_session_expires() -> None:
    guard = Guard(key=KEY, read_only=False, forbidden=lambda request, message: message)
    session = guard.new_session(now=1_000_000)
    assert guard.session_ok(session, now=1_000_000 + SESSION_TTL - 1)
    assert not guard.session_ok(session, now=1_000_000 + SESSION_TTL + 1)
    issued, _, sig = session.partition(".")
    assert not guard.session_ok(f"{int(issued) + 3600}.{sig}", now=1_000_000 + 10)  # a forged date
    assert not Guard(key=OTHER_KEY, read_only=False, forbidden=lambda r, m: m).session_ok(
        session, now=1_000_000
    )


async def test_a_planted_csrf_cookie_is_replaced_and_gets_no_token(servers) -> None:
    base = await servers(KEY)
    async with _session() as s, s.get(f"{base}/dashboard/?code={KEY}", allow_redirects=False) as r:
        session = r.cookies[SESSION_COOKIE].value
    cookies = {SESSION_COOKIE: session, CSRF_COOKIE: "planted-by-someone"}
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/dashboard/start", cookies=cookies) as r:
            assert r.status == 200
            issued = r.cookies[CSRF_COOKIE].value
            assert issued != "planted-by-someone"
            token = re.search(r'name="csrf" value="([0-9a-f]+)"', await r.text()).group(1)  # type: ignore[union-attr]
        form = {"csrf": token, "name": "chain", "input": "1"}
        async with s.post(f"{base}/dashboard/start", data=form, cookies=cookies, allow_redirects=False) as r:
            assert r.status == 403  # the token belongs to the server's cookie, not the planted one
        ok = {**cookies, CSRF_COOKIE: issued}
        async with s.post(f"{base}/dashboard/start", data=form, cookies=ok, allow_redirects=False) as r:
            assert r.status == 303
