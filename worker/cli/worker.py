"""``taskhub worker MODULE:APP`` (also ``python -m worker MODULE:APP``): run a worker until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from pathlib import Path

from taskhub.cli.registry import verb
from taskhub.cli.signals import exit_if_threads_linger, install_stop_signals
from taskhub.config.settings import Settings
from taskhub.model.app import App
from worker.host import Worker
from worker.telemetry import serve_metrics

__all__ = ["load_app", "run_worker"]


_HINT = "give MODULE:APP, e.g. examples.all:app, or the file, e.g. examples/all.py"


def _module_of_file(path: str) -> str:
    """The module name of a ``.py`` file: dotted from the current folder when it lies below it (so that
    its package imports work), else its stem with its folder put on ``sys.path``."""
    file = Path(path).resolve()
    if not file.is_file():
        raise ValueError(f"no such file: {path!r} ({_HINT})")
    try:
        parts = file.with_suffix("").relative_to(Path.cwd().resolve()).parts
    except ValueError:
        parts = ()
    if parts and all(p.isidentifier() for p in parts):
        return ".".join(parts)
    if str(file.parent) not in sys.path:
        sys.path.insert(0, str(file.parent))
    return file.stem


def load_app(spec: str) -> App:
    """Import ``module:attribute`` (``module`` alone means ``module:app``; a ``.py`` file path works for
    the module) and check it is an App."""
    module_name, _, attr = spec.partition(":")
    attr = attr or "app"
    if not module_name:
        raise ValueError(f"expected MODULE:APP, got {spec!r} ({_HINT})")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        module_name = _module_of_file(module_name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import {module_name!r}: {err} ({_HINT})") from None
    app = getattr(module, attr, None)
    if not isinstance(app, App):
        found = type(app).__name__ if app is not None else "nothing"
        raise ValueError(f"{spec!r} must name a taskhub.App, found {found}")
    return app


async def run_worker(
    app: App, settings: Settings, worker_id: str | None = None, *, metrics_port: int | None = None
) -> None:
    """Run until SIGINT/SIGTERM, then stop within the grace period; a second signal exits at once."""
    w = Worker(app, settings, worker_id=worker_id)
    what = f"taskhub worker {w.worker_id}"
    server = await serve_metrics(w, metrics_port) if metrics_port is not None else None
    print(
        f"{what}: hub {settings.hub_name}, "
        f"{len(app.orchestrator_names)} orchestrators, {len(app.activity_names)} activities; Ctrl-C stops",
        file=sys.stderr,
    )
    if server is not None:
        print(f"{what}: metrics on http://{server.host}:{server.port}/metrics", file=sys.stderr)
    stop = asyncio.Event()
    install_stop_signals(stop, what=what, grace_s=settings.shutdown_grace_period.total_seconds())
    await w.start()
    try:
        await stop.wait()
    finally:
        await w.stop()
        if server is not None:
            await server.stop()
    await exit_if_threads_linger(what)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a port number 0-65535 (0: any free port), got {text!r}"
        ) from None
    if not 0 <= port < 65536:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535 (0: any free port), got {port}")
    return port


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "app",
        metavar="MODULE:APP",
        help="the module (or .py file) and the taskhub.App in it, e.g. examples.approval:app or examples/all.py",
    )
    p.add_argument("--worker-id", help="unique id of this worker (default: host-pid-random)")
    p.add_argument(
        "--metrics-port",
        type=_port,
        default=os.environ.get("TASKHUB_METRICS_PORT") or None,  # argparse applies type= to a text default
        help="serve Prometheus metrics on http://0.0.0.0:PORT/metrics (also TASKHUB_METRICS_PORT; default: off)",
    )


@verb("worker", "run a worker for MODULE:APP until Ctrl-C (graceful drain)", _args)
async def worker_verb(ns: argparse.Namespace, settings: Settings) -> None:
    app = load_app(ns.app)
    if not ns.verbose:
        logging.getLogger("worker").setLevel(logging.INFO)
        logging.getLogger("taskhub").setLevel(logging.INFO)
    await run_worker(app, settings, ns.worker_id, metrics_port=ns.metrics_port)


def _replay_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("app", metavar="MODULE:APP", help="the code to check, e.g. examples.all:app")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", action="append", help="a stored instance to replay (repeatable)")
    which.add_argument("--all", action="store_true", help="every stored instance matching the filters")
    p.add_argument("--created-after", help="with --all: ISO 8601 time")
    p.add_argument("--created-before", help="with --all: ISO 8601 time")
    p.add_argument("--runtime-status", nargs="*", help="with --all: Running Completed Failed ...")
    p.add_argument("--instance-id-prefix", help="with --all: only ids starting with this")
    p.add_argument(
        "--worker-version",
        help="check as a worker of this version (default: host.json defaultVersion); instances its "
        "versionMatchStrategy would not run are skipped",
    )


@verb("replay", "replay stored histories against MODULE:APP and report non-determinism", _replay_args)
async def replay_verb(ns: argparse.Namespace, settings: Settings) -> None:
    from worker.cli.replay import replay_stored

    await replay_stored(load_app(ns.app), settings, ns)


def main(argv: list[str] | None = None) -> int:
    from taskhub.cli import main as cli_main

    return cli_main(["worker", *(sys.argv[1:] if argv is None else argv)])
