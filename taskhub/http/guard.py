"""The front door of the HTTP server: which requests reach a handler at all.

* **Host**: a request whose ``Host`` names neither a loopback address (``localhost``, ``127.0.0.1``,
  ``[::1]``) with the server's port, nor the address the connection arrived on, nor a name the server was
  told it answers to (``--allowed-host``, or the ``TASKHUB_ALLOWED_HOSTS`` setting, comma-separated) is
  refused with 421: a page that rebinds its own DNS name to 127.0.0.1 cannot read or steer the server.
* **Origin**: a POST, PUT, PATCH or DELETE to the management API or the dashboard carrying an ``Origin``
  other than the server's own, or ``Sec-Fetch-Site: cross-site``/``same-site``, is refused with 403: a web
  page open in the developer's browser cannot start, signal or terminate anything. Clients that are not
  browsers (curl, the Durable Functions client) send neither header. ``Sec-Fetch-Site: same-origin``
  (or ``none``) is the server's own, whatever the ``Origin``.
* **Content type**: a request body on the management API must be ``application/json`` (415 otherwise;
  raiseEvent answers Durable Functions' own 400), except the input of an entity signal, which may be
  text (http-api.md 2.9). An empty body needs none.
* **URL escapes** must decode to UTF-8 (``a%FFb`` is a 400, not a name that ``a%25FFb`` also reaches).
* **The key** never reaches a log line: the ``aiohttp`` loggers get a filter that masks ``code=...``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

from aiohttp import web
from yarl import URL

from taskhub.http.dashboard import PREFIX as DASHBOARD_PREFIX
from taskhub.http.urls import RPC_PREFIX, WEBHOOK_PREFIX, json_response

__all__ = ["ALLOWED_HOSTS_SETTING", "allowed_hosts_from", "front_door", "mask_key", "install_log_filter"]

ALLOWED_HOSTS_SETTING = "TASKHUB_ALLOWED_HOSTS"
"""Environment variable: more host names the server answers to, comma-separated (``--allowed-host``)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost."})
_API_PREFIXES = (WEBHOOK_PREFIX + "/", RPC_PREFIX + "/")
_KEY = re.compile(r"(?i)(code=)[^&\s\"']*")


_SECRETS: set[str] = set()


def mask_key(text: str) -> str:
    """``text`` with the value of every ``code=`` parameter, and every key the server has, replaced by
    ``***``."""
    text = _KEY.sub(r"\1***", text)
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


class _MaskKey(logging.Filter):
    """Masks the key in aiohttp's own log lines, and makes its errors about a request (a line too long,
    a client gone) one line without a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            err = record.exc_info[1]
            text = f"{text}: {type(err).__name__}: {' '.join(str(err).split())}"
            record.exc_info = None
            record.exc_text = None
        record.msg = mask_key(text)
        record.args = None
        return True


_FILTER = _MaskKey()


def install_log_filter(key: str | None = None) -> None:
    """Mask ``code=`` values and ``key`` in everything aiohttp's loggers write (idempotent)."""
    if key:
        _SECRETS.add(key)
    for name in ("aiohttp.server", "aiohttp.access", "aiohttp.web", "aiohttp.internal"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def allowed_hosts_from(names: Iterable[str] = (), environ: dict[str, str] | None = None) -> frozenset[str]:
    """The extra host names: ``names`` plus those of the ``TASKHUB_ALLOWED_HOSTS`` setting, lower-cased.
    A name with a port (``example.com:8080``) is refused: names match on any port."""
    env = os.environ if environ is None else environ
    extra = [n for n in (env.get(ALLOWED_HOSTS_SETTING) or "").split(",") if n.strip()]
    out: set[str] = set()
    for raw in [*names, *extra]:
        name = raw.strip().lower()
        if not name or any(c in name for c in "/ @?#") or (":" in name and not name.startswith("[")):
            raise ValueError(
                f"allowed host {raw!r} must be a bare host name or address (no scheme, port or path), "
                "e.g. myhost.example.com or [::1]"
            )
        out.add(name.strip("[]"))
    return frozenset(out)


def _split(host: str) -> tuple[str, int | None] | None:
    """(name, port) of a Host header value; None when it is not one."""
    try:
        url = URL(f"http://{host}")
    except ValueError:
        return None
    if url.raw_host is None or url.path not in ("", "/") or url.user or url.query_string:
        return None
    return url.raw_host.lower().strip("[]"), url.explicit_port


def _is_loopback(name: str) -> bool:
    """A loopback name or address, or the unspecified address (``http://0.0.0.0:7071/`` is how a
    browser on the machine reaches a server bound to all addresses)."""
    if name in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _local(request: web.Request) -> tuple[str, int] | None:
    sock: Any = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sock, tuple) and len(sock) >= 2:
        return str(sock[0]).lower().removeprefix("::ffff:"), int(sock[1])  # IPv4 on a dual-stack socket
    return None


def host_refusal(request: web.Request, allowed: frozenset[str]) -> str | None:
    """Why ``request``'s Host is refused, or None when the server answers to it (a request without a
    Host header is not a browser's: HTTP/1.0 from a program)."""
    if "Host" not in request.headers:
        return None
    parts = _split(request.host)
    if parts is None:
        return f"the Host header {request.host!r} is not a host name"
    name, port = parts
    if name in allowed:
        return None
    local = _local(request)
    if local is None:  # not a TCP socket (tests over a Unix socket): nothing to compare with
        return None
    local_ip, local_port = local
    effective = port if port is not None else (443 if request.secure else 80)
    if effective == local_port and (_is_loopback(name) or name == local_ip):
        return None
    return (
        f"this server does not answer to the host {request.host!r}: use http://localhost:{local_port}, "
        f"or start it with --allowed-host NAME (or the {ALLOWED_HOSTS_SETTING} setting)"
    )


def _own_origin(request: web.Request, origin: str) -> bool:
    try:
        url = URL(origin)
    except ValueError:
        return False
    parts = _split(request.host)
    if not url.absolute or url.scheme not in ("http", "https") or parts is None or url.raw_host is None:
        return False
    name, port = parts
    own_port = port if port is not None else (443 if request.secure else 80)
    return url.raw_host.lower().strip("[]") == name and url.port == own_port


def _foreign(request: web.Request) -> bool:
    """The request comes from another web site. ``Sec-Fetch-Site`` decides when the browser sent it
    (``same-origin``/``none`` are ours, even with ``Origin: null``, which a page with ``Referrer-Policy:
    no-referrer`` sends for its own forms); else an ``Origin`` other than ours is foreign, except ``null``
    on the dashboard, whose forms carry a CSRF token."""
    site = request.headers.get("Sec-Fetch-Site", "").lower()
    if site:
        return site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None or _own_origin(request, origin):
        return False
    return not (origin == "null" and request.path.startswith(DASHBOARD_PREFIX + "/"))


def _guarded_path(path: str) -> bool:
    return (
        path.startswith(_API_PREFIXES) or path == DASHBOARD_PREFIX or path.startswith(DASHBOARD_PREFIX + "/")
    )


def _json_required(path: str) -> bool:
    if not path.startswith(_API_PREFIXES):
        return False
    rest = path.split("/durabletask/", 1)[1]
    # an entity signal's input may be text (http-api.md 2.9); raiseEvent answers Durable Functions' 400
    return not rest.startswith("entities/") and "/raiseEvent/" not in rest


def _refuse(status: int, message: str) -> web.Response:
    return json_response({"Message": message}, status=status)


def _bad_escape(raw_path: str) -> bool:
    """The URL's percent-escapes do not decode to UTF-8 text (``a%FFb``)."""
    if "%" not in raw_path:
        return False
    try:
        unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def front_door(allowed_hosts: frozenset[str]) -> Any:
    """The middleware applying the Host, Origin and content-type rules of this module."""

    @web.middleware
    async def door(request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = host_refusal(request, allowed_hosts)
        if refusal:
            return _refuse(421, refusal)
        if _bad_escape(request.raw_path):
            return _refuse(
                400, "the URL's percent-escapes are not UTF-8 text (e.g. %FF); encode names as UTF-8"
            )
        if request.method in _UNSAFE and _guarded_path(request.path):
            if _foreign(request):
                return _refuse(
                    403,
                    "requests from another web site are refused: call this API from a program, or from "
                    "a page served by this server",
                )
            if (
                _json_required(request.path)
                and request.body_exists
                and request.content_type != "application/json"
            ):
                return _refuse(
                    415,
                    f"the request body must be JSON sent as Content-Type: application/json "
                    f"(got {request.content_type!r}); with curl: -H 'Content-Type: application/json'",
                )
        return await handler(request)

    return door
