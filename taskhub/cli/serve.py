"""``taskhub serve``: the HTTP management API on aiohttp."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import sys
from pathlib import Path

from taskhub.cli.registry import verb
from taskhub.cli.signals import install_stop_signals
from taskhub.config.connection import AppSettings
from taskhub.config.settings import Settings
from taskhub.errors import ConfigurationError
from taskhub.http.dashboard import PREFIX as DASHBOARD_PREFIX
from taskhub.http.guard import ALLOWED_HOSTS_SETTING, allowed_hosts_from
from taskhub.http.observe import add_metrics
from taskhub.http.server import (
    CLIENT_FOR,
    DEFAULT_MAX_BODY_BYTES,
    KEY_SETTING,
    MIN_KEY_LENGTH,
    check_key,
    create_app,
    is_loopback,
    start_site,
)
from taskhub.http.urls import RPC_PREFIX, WEBHOOK_PREFIX
from taskhub.model.app import App


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=7071, help="port (default 7071)")
    p.add_argument(
        "--app", metavar="MODULE:APP", help="the App whose orchestrators may be started (others: 400)"
    )
    p.add_argument(
        "--key-setting",
        default=KEY_SETTING,
        help=f"environment variable / local.settings.json value holding the access key (default {KEY_SETTING}); "
        f"required when binding to a non-loopback address; at least {MIN_KEY_LENGTH} characters, no whitespace",
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name this server answers to besides loopback and the bound address (repeatable; "
        f"also the {ALLOWED_HOSTS_SETTING} setting, comma-separated); other Host headers get 421",
    )
    p.add_argument(
        "--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="request body limit (413 above)"
    )
    p.add_argument(
        "--read-only",
        action="store_true",
        help="no changes: the dashboard hides its actions, and every POST/DELETE answers 403",
    )
    _metrics_arg(p)


def _metrics_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metrics",
        action="store_true",
        default=os.environ.get("TASKHUB_METRICS", "").lower() in ("1", "true"),
        help="serve Prometheus metrics on /metrics (behind the same key rules; also TASKHUB_METRICS=1)",
    )


def _orchestrators(spec: str | None) -> frozenset[str] | None:
    if not spec:
        return None
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        app = getattr(importlib.import_module(module_name), attr or "app", None)
    except ImportError as err:
        raise ValueError(f"--app: cannot import {module_name!r}: {err}") from None
    if not isinstance(app, App):
        raise ValueError(f"--app: {spec!r} must name a taskhub.App")
    return frozenset(app.orchestrator_names)


@verb("serve", "serve the Durable Functions HTTP management API", _args)
async def serve(ns: argparse.Namespace, settings: Settings) -> None:
    if not 0 < ns.port < 65536:
        raise ValueError(f"--port must be 1-65535, got {ns.port}")
    if ns.max_body_bytes < 1024:
        raise ValueError("--max-body-bytes must be at least 1024")
    local = Path(ns.host_json).with_name("local.settings.json") if ns.host_json else None
    key = (
        AppSettings.load(os.environ, local if local and local.exists() else None).get(ns.key_setting) or None
    )
    if key:
        check_key(key, ns.key_setting)
    allowed = allowed_hosts_from(ns.allowed_host)
    if not is_loopback(ns.host) and not key:
        raise ConfigurationError(
            "--host",
            ns.host,
            f"binding beyond loopback needs an access key: set the {ns.key_setting} setting",
        )
    app = create_app(
        settings,
        orchestrator_names=_orchestrators(ns.app),
        key=key,
        max_body_bytes=ns.max_body_bytes,
        read_only=ns.read_only,
        allowed_hosts=allowed,
    )
    if getattr(ns, "metrics", False):
        add_metrics(app, app[CLIENT_FOR])
    runner = await start_site(app, ns.host, ns.port)
    shown = f"[{ns.host}]" if ":" in ns.host else ns.host
    print(
        f"taskhub serve: hub {settings.hub_name} on http://{shown}:{ns.port}{WEBHOOK_PREFIX}/ and {RPC_PREFIX}/ "
        f"({'key required' if key else 'no key, loopback only'}); Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    dashboard = f"http://{shown}:{ns.port}{DASHBOARD_PREFIX}/"
    if getattr(ns, "print_dashboard_url", False):
        print(dashboard, flush=True)  # `taskhub dashboard`: the URL alone on stdout
    else:
        print(f"taskhub serve: dashboard on {dashboard}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    grace = settings.shutdown_grace_period.total_seconds()
    install_stop_signals(stop, what="taskhub serve", grace_s=grace)
    try:
        await stop.wait()
    finally:  # requests still open (a long ?timeout= wait) get the grace period, no more
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runner.cleanup(), grace)
