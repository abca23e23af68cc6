"""``taskhub sidecar``: serve the Durable Task gRPC protocol on this hub until Ctrl-C.

Loaded through the ``taskhub.cli`` entry points; grpcio and durabletask (the ``sidecar`` extra) are
imported only when the verb runs, so the other verbs work without them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from taskhub.cli.registry import verb
from taskhub.config.connection import AppSettings
from taskhub.config.settings import Settings
from taskhub.errors import ConfigurationError
from taskhub.http.server import KEY_SETTING, MIN_KEY_LENGTH, check_key, is_loopback

__all__ = ["sidecar_verb"]

_EXTRA_HINT = "install the sidecar extra: pip install 'taskhub-durable[sidecar]'"


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=4001, help="port (default 4001, where the SDKs look)")
    p.add_argument(
        "--key-setting",
        default=KEY_SETTING,
        help=f"environment variable / local.settings.json value holding the access key (default {KEY_SETTING}), "
        "which callers pass as the x-functions-key metadata; required when binding to a non-loopback "
        f"address; at least {MIN_KEY_LENGTH} characters, no whitespace",
    )
    p.add_argument(
        "--app",
        metavar="MODULE:APP",
        help="also run the functions of this taskhub.App in the sidecar's own worker (the others run on the "
        "connected SDK workers)",
    )
    p.add_argument("--worker-id", help="unique id of the sidecar's worker (default: host-pid-random)")


@verb("sidecar", "serve the Durable Task SDKs' gRPC protocol (TaskHubSidecarService) on this hub", _args)
async def sidecar_verb(ns: argparse.Namespace, settings: Settings) -> None:
    if not 0 < ns.port < 65536:
        raise ValueError(f"--port must be 1-65535, got {ns.port}")
    local = Path(ns.host_json).with_name("local.settings.json") if ns.host_json else None
    key = (
        AppSettings.load(os.environ, local if local and local.exists() else None).get(ns.key_setting) or None
    )
    if key:
        check_key(key, ns.key_setting)
    if not is_loopback(ns.host) and not key:
        raise ConfigurationError(
            "--host",
            ns.host,
            f"binding beyond loopback needs an access key: set the {ns.key_setting} setting",
        )
    try:
        from worker.sidecar.server import Sidecar, bind_address
    except ImportError as err:
        missing = err.name or ""
        if missing.split(".")[0] not in {"grpc", "durabletask", "google"}:
            raise  # not a missing extra: a bug of ours, with its traceback
        raise ConfigurationError("sidecar", "", f"{missing} is missing; {_EXTRA_HINT}") from None
    app = None
    if ns.app:
        from worker.cli.worker import load_app

        app = load_app(ns.app)
    sidecar = Sidecar(settings, host=ns.host, port=ns.port, key=key, app=app, worker_id=ns.worker_id)
    await sidecar.start()
    print(
        f"taskhub sidecar: hub {settings.hub_name} on {bind_address(ns.host, sidecar.port)} "
        f"({'key required' if key else 'no key, loopback only'})"
        + (f", runs {ns.app} itself" if app else "")
        + "; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sidecar.stop()
