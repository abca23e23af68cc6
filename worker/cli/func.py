"""``taskhub func start [--script-root DIR] [--port 7071]``: run a Durable Functions Python app as
Core Tools' ``func start`` would, on this task hub, with nothing but Python.

It reads the app's host.json and local.settings.json (the real environment wins over its ``Values``),
gives the app ``AzureWebJobsStorage`` = the connection the host uses when the app has none (the SDK's
samples ship no local.settings.json), finds the functions (``worker.functions.discovery``), lists them
the way ``func start`` does, warns when the hub holds running instances of orchestrators the app lacks,
starts a worker running the orchestrators, activities and entities, and serves on one port: the HTTP
triggers under ``/api/``, the Durable Functions management API under ``/runtime/webhooks/durabletask/``
and the RPC routes the SDK's client calls under ``/durabletask/``. Each function run prints an
``Executing`` and an ``Executed`` line on stdout, as Core Tools does (``worker.functions.runlog``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from taskhub.cli.registry import load_settings, verb, where
from taskhub.cli.signals import exit_if_threads_linger, install_stop_signals
from taskhub.config.connection import DEFAULT_CONNECTION_NAME, AppSettings
from taskhub.config.settings import Settings
from taskhub.errors import FunctionAppError
from taskhub.http.server import create_app, start_site
from taskhub.http.urls import WEBHOOK_PREFIX
from worker.functions.discovery import FunctionInfo

if TYPE_CHECKING:
    from worker.functions.app import HostedApp
    from worker.host import Worker

__all__ = ["func_verb", "describe_functions", "apply_local_settings", "give_host_connection"]

log = logging.getLogger(__name__)


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["start"], help="start: run the app in --script-root (default: here)")
    p.add_argument("--script-root", help="the app's folder (default: the current folder)")
    p.add_argument("--port", type=int, default=7071, help="port (default 7071)")
    p.add_argument("--host", dest="bind", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--metrics",
        action="store_true",
        default=os.environ.get("TASKHUB_METRICS", "").lower() in ("1", "true"),
        help="serve Prometheus metrics on /metrics (also TASKHUB_METRICS=1)",
    )


def apply_local_settings(root: Path) -> int:
    """Copy local.settings.json ``Values`` into the environment where it lacks them; how many were set."""
    path = root / "local.settings.json"
    if not path.is_file():
        return 0
    try:
        values = json.loads(path.read_text(encoding="utf-8-sig")).get("Values") or {}
    except (OSError, ValueError, AttributeError) as exc:
        raise FunctionAppError(f"{path} cannot be read as JSON: {exc}") from None
    count = 0
    for key, value in values.items():
        if key not in os.environ and value is not None:
            os.environ[key] = str(value)
            count += 1
    return count


def give_host_connection(settings: Settings) -> str | None:
    """When the app's settings have no ``AzureWebJobsStorage`` (neither a value nor ``__`` children), set
    it in the environment to the connection string the host uses, so that the function code finds the
    storage the host runs on, as under Core Tools. The line to print, or None when nothing was set."""
    app = AppSettings(os.environ)
    conn = settings.connection
    if (
        DEFAULT_CONNECTION_NAME in app
        or app.children(DEFAULT_CONNECTION_NAME)
        or conn.connection_string is None
    ):
        return None
    os.environ[DEFAULT_CONNECTION_NAME] = conn.connection_string
    if conn.is_default:
        origin = "UseDevelopmentStorage=true: Azurite on its standard ports"
    elif conn.name.endswith(".run"):
        origin = f"the Azurite recorded in {conn.name}"
    else:
        origin = f"the setting {conn.name}"
    return (
        f"taskhub func start: the app has no {DEFAULT_CONNECTION_NAME} setting; it gets the connection "
        f"this host uses ({origin})"
    )


def describe_functions(functions: list[FunctionInfo], origin: str) -> list[str]:
    """The function list as Core Tools prints it (http functions with their methods and URL)."""
    lines = ["Functions:", ""]
    for f in functions:
        if f.skipped is not None:
            lines.append(f"\t{f.name}: {f.trigger} (skipped: {f.skipped})")
        elif f.trigger == "httpTrigger":
            lines.append(f"\t{f.name}: [{','.join(f.methods)}] {origin}/api/{f.route.strip('/')}")
        else:
            lines.append(f"\t{f.name}: {f.trigger}")
        lines.append("")
    return lines


def _settings_for(ns: argparse.Namespace, root: Path, settings: Settings) -> Settings:
    if ns.host_json != "host.json" or Path.cwd().resolve() == root:
        return settings
    ns.host_json = str(root / "host.json")
    settings = load_settings(ns)
    print(where(settings), file=sys.stderr, flush=True)
    return settings


def _load(ns: argparse.Namespace, settings: Settings) -> tuple[Settings, list[FunctionInfo]]:
    """The settings of the app in --script-root and its functions (local.settings.json applied first,
    then the host's connection given to an app that has none, before the app's code is imported)."""
    from worker.functions.discovery import discover

    root = Path(ns.script_root or ".").resolve()
    settings = _settings_for(ns, root, settings)
    apply_local_settings(root)
    given = give_host_connection(settings)
    if given is not None:
        print(given, file=sys.stderr, flush=True)
    return settings, discover(root, os.environ)


def _emit(line: str) -> None:
    """One run line on stdout, written whole (activities run in threads)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _warn_foreign(worker: Worker, hosted: HostedApp) -> None:
    from worker.backends.azure_storage.backend import AzureStorageBackend
    from worker.functions.hubcheck import foreign_warning, query_foreign_orchestrators

    if not isinstance(worker.backend, AzureStorageBackend):  # the check reads an Azure Storage hub's rows
        return
    foreign, capped = await query_foreign_orchestrators(worker.backend.hub, hosted.app.orchestrator_names)
    warning = foreign_warning(worker.settings.hub_name, foreign, capped)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)


@verb("func", "run a Durable Functions Python app (taskhub func start) on this task hub", _args)
async def func_verb(ns: argparse.Namespace, settings: Settings) -> None:
    from worker.functions.app import build_app
    from worker.functions.http import HttpFunctions
    from worker.functions.runlog import RunLog
    from worker.host import Worker
    from worker.telemetry import watch_worker

    if not 0 < ns.port < 65536:
        raise ValueError(f"--port must be 1-65535, got {ns.port}")
    settings, functions = _load(ns, settings)
    if settings.extended_sessions_enabled:
        print(
            "taskhub func start: warning: extendedSessionsEnabled is ignored: a Durable Functions Python app "
            "replays every episode (the extension turns extended sessions off for Python too)",
            file=sys.stderr,
            flush=True,
        )
    runlog = RunLog(_emit)
    hosted = build_app(functions, runlog)
    shown = f"[{ns.bind}]" if ":" in ns.bind else ns.bind
    origin = f"http://{'localhost' if ns.bind in ('127.0.0.1', '::1') else shown}:{ns.port}"
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="http-function")
    app = create_app(settings, orchestrator_names=frozenset(hosted.app.orchestrator_names), rpc_unwrap=False)
    http = HttpFunctions(
        hosted.http,
        base_url=lambda: f"http://{shown}:{ns.port}",
        hub_name=settings.hub_name,
        connection_name=settings.storage.connection_name,
        pool=pool,
        runlog=runlog,
    )
    app.add_routes(http.routes())
    worker = Worker(hosted.app, settings)
    if ns.metrics:  # docs/observability.md
        from taskhub.telemetry.prometheus import metrics_handler

        app.router.add_get("/metrics", metrics_handler(watch_worker(worker)), allow_head=False)
    await _warn_foreign(worker, hosted)
    runner = await start_site(app, ns.bind, ns.port)
    await worker.start()
    print("\n".join(describe_functions(functions, origin)), flush=True)
    print(
        f"taskhub func start: hub {settings.hub_name}; management API at {origin}{WEBHOOK_PREFIX}/; "
        "Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    grace = settings.shutdown_grace_period.total_seconds()
    install_stop_signals(stop, what="taskhub func start", grace_s=grace)
    try:
        await stop.wait()
    finally:  # the HTTP side and the worker share one grace period
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runner.cleanup(), grace / 2)
        await worker.stop(max(deadline - loop.time(), 0.0))
        pool.shutdown(wait=False, cancel_futures=True)
    await exit_if_threads_linger("taskhub func start")
