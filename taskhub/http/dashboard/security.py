"""The dashboard's safety rails, as one aiohttp middleware:

* headers on every answer: a strict Content-Security-Policy (only this server's script, style and
  images; no inline script or style; forms post only here; no framing), ``nosniff``, no referrer;
* a key, when the server has one (bound beyond loopback): sent once (the login form, or ``?code=`` /
  ``x-functions-key`` as for the API) and then kept as an HttpOnly, SameSite=Strict session cookie
  ``issued-at.HMAC(key, issued-at)`` (never the key itself), valid for ``SESSION_TTL`` seconds and only
  while the key is the same: changing the key signs every browser out. ``?code=`` never survives into a
  redirect or a page;
* CSRF: an HttpOnly cookie per browser that the server made and signed (a cookie it did not sign is
  replaced); every form carries a token derived from it and the session with the server's secret, and a
  POST without the matching token is refused (403);
* read-only mode: every POST and every action form answers 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from yarl import URL

from taskhub.http.dashboard.layout import PREFIX, login_page


def see_other(location: str) -> web.Response:
    """303 to ``location`` (after a POST, and after taking a key from the query)."""
    return web.Response(status=303, headers={"Location": location})


__all__ = [
    "see_other",
    "Guard",
    "CSP",
    "SESSION_COOKIE",
    "CSRF_COOKIE",
    "CSRF_KEY",
    "SESSION_TTL",
    "without_code",
]

SESSION_TTL = 12 * 3600
"""Seconds a dashboard sign-in lasts."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SESSION_COOKIE = "taskhub_session"
CSRF_COOKIE = "taskhub_csrf"
CSRF_KEY: web.RequestKey[str] = web.RequestKey("dashboard_csrf", str)
"""``request[CSRF_KEY]``: the token this request's forms must carry."""

_WRITE_PATHS = ("/start", "/bulk/")
_ACTION_SUFFIXES = ("/raise", "/suspend", "/resume", "/terminate", "/restart", "/rewind", "/purge")


def without_code(url: URL) -> str:
    """``url`` (relative) without its ``code`` parameters: the key never goes into a link or a redirect."""
    return str(url.with_query([(k, v) for k, v in url.query.items() if k.lower() != "code"]))


def _headers(response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")


class Guard:
    """Key, CSRF, read-only and headers for every request under ``/dashboard``."""

    def __init__(
        self, *, key: str | None, read_only: bool, forbidden: Callable[[web.Request, str], str]
    ) -> None:
        self.key = key
        self.read_only = read_only
        self._secret = secrets.token_bytes(32)
        self._forbidden = forbidden

    # -- the session (signed in with the key) --------------------------------------------------------

    def _session_sig(self, issued: int) -> str:
        return hmac.new(
            (self.key or "").encode(), f"taskhub-session|{issued}".encode(), hashlib.sha256
        ).hexdigest()

    def new_session(self, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        return f"{issued}.{self._session_sig(issued)}"

    def session_ok(self, value: str, now: float | None = None) -> bool:
        """A session cookie this key signed less than ``SESSION_TTL`` seconds ago."""
        issued_text, _, sig = value.partition(".")
        if not (self.key and issued_text.isdigit() and len(issued_text) <= 12):
            return False
        issued = int(issued_text)
        age = (time.time() if now is None else now) - issued
        return -60 <= age <= SESSION_TTL and hmac.compare_digest(sig, self._session_sig(issued))

    # -- CSRF -------------------------------------------------------------------------------------------

    def _cookie_sig(self, nonce: str) -> str:
        return hmac.new(self._secret, f"csrf-cookie|{nonce}".encode(), hashlib.sha256).hexdigest()[:32]

    def new_csrf_cookie(self) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._cookie_sig(nonce)}"

    def csrf_cookie_ok(self, cookie: str) -> bool:
        nonce, _, sig = cookie.partition(".")
        return bool(nonce) and hmac.compare_digest(sig, self._cookie_sig(nonce))

    def csrf_for(self, cookie: str, session: str = "") -> str:
        """The forms' token of a browser's CSRF cookie and session cookie."""
        return hmac.new(self._secret, f"form|{cookie}|{session}".encode(), hashlib.sha256).hexdigest()

    def _is_write(self, request: web.Request) -> bool:
        path = request.path[len(PREFIX) :]
        if request.method == "POST" and path != "/login":
            return True
        return path.startswith(_WRITE_PATHS) or (
            path.startswith("/instances/") and path.endswith(_ACTION_SUFFIXES)
        )

    def _key_given(self, request: web.Request) -> str:
        return request.headers.get("x-functions-key") or next(
            (v for k, v in request.query.items() if k.lower() == "code"), ""
        )

    def _key_ok(self, given: str) -> bool:
        return bool(self.key) and hmac.compare_digest(given.encode(), (self.key or "").encode())

    def _cookie(self, response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
        response.set_cookie(
            name, value, path=PREFIX, httponly=True, samesite="Strict", secure=request.secure or None
        )

    def middleware(self) -> Any:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                response = await self._guarded(request, handler)
            except web.HTTPException as err:
                _headers(err)
                raise
            _headers(response)
            return response

        return guard

    async def _guarded(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(PREFIX + "/static/"):
            return await handler(request)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        fresh = not self.csrf_cookie_ok(cookie)  # none yet, or one this server did not make
        if fresh:
            cookie = self.new_csrf_cookie()
        session = request.cookies.get(SESSION_COOKIE, "") if self.key else ""
        request[CSRF_KEY] = self.csrf_for(cookie, session)
        response = await self._checked(request, handler, cookie, session)
        if fresh:
            self._cookie(response, request, CSRF_COOKIE, cookie)
        return response

    async def _checked(
        self, request: web.Request, handler: Handler, cookie: str, session: str
    ) -> web.StreamResponse:
        if self.read_only and self._is_write(request):
            return self._page(
                request,
                403,
                "This dashboard is read-only (taskhub serve --read-only): actions are switched off.",
            )
        if request.method == "POST":
            form = await request.post()
            token = form.get("csrf")
            if not (isinstance(token, str) and hmac.compare_digest(token, self.csrf_for(cookie, session))):
                return self._page(
                    request,
                    403,
                    "This form has expired or did not come from this dashboard: reload the page and try again.",
                )
        if self.key:
            if request.path == PREFIX + "/login":
                return await self._login(request)
            if not self.session_ok(session):
                given = self._key_given(request)
                if given and self._key_ok(given) and request.method == "GET":
                    return self.signed_in(request, without_code(request.rel_url))
                if any(k.lower() == "code" for k in request.query):
                    return see_other(without_code(request.rel_url))  # a wrong key: out of the URL too
                return web.Response(
                    status=401,
                    text=login_page(request[CSRF_KEY], without_code(request.rel_url)),
                    content_type="text/html",
                )
        elif request.path == PREFIX + "/login":
            return see_other(PREFIX + "/")
        return await handler(request)

    async def _login(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(text=login_page(request[CSRF_KEY], PREFIX + "/"), content_type="text/html")
        form = await request.post()
        given, target = form.get("key"), form.get("next")
        nxt = (
            target
            if isinstance(target, str) and target.startswith(PREFIX + "/") and "//" not in target
            else PREFIX + "/"
        )
        if not (isinstance(given, str) and self._key_ok(given)):
            return web.Response(
                status=401,
                text=login_page(request[CSRF_KEY], nxt, "That key is not right."),
                content_type="text/html",
            )
        return self.signed_in(request, without_code(URL(nxt)))

    def signed_in(self, request: web.Request, location: str) -> web.Response:
        """303 to ``location`` with a new session cookie."""
        response = see_other(location)
        response.set_cookie(
            SESSION_COOKIE,
            self.new_session(),
            path=PREFIX,
            httponly=True,
            samesite="Strict",
            secure=request.secure or None,
            max_age=SESSION_TTL,
        )
        return response

    def take_key(self, request: web.Request, location: str) -> web.Response:
        """The answer to ``/dashboard?code=...``: signed in when the key is right, and ``location``
        without the key either way."""
        given = self._key_given(request)
        if self.key and given and self._key_ok(given):
            return self.signed_in(request, location)
        return web.Response(status=308, headers={"Location": location})

    def _page(self, request: web.Request, status: int, message: str) -> web.Response:
        return web.Response(status=status, text=self._forbidden(request, message), content_type="text/html")
