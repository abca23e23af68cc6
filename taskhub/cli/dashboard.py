"""``taskhub dashboard``: start the same server as ``taskhub serve`` and print the dashboard's URL."""

from __future__ import annotations

import argparse
import sys

from taskhub.cli.registry import verb
from taskhub.cli.serve import _args as serve_args
from taskhub.cli.serve import serve
from taskhub.config.settings import Settings


def _args(p: argparse.ArgumentParser) -> None:
    serve_args(p)
    p.add_argument("--open", action="store_true", help="also open the dashboard in the default web browser")


@verb("dashboard", "serve the dashboard (and the HTTP API) and print its URL", _args)
async def dashboard(ns: argparse.Namespace, settings: Settings) -> None:
    ns.print_dashboard_url = True
    if ns.open:
        import webbrowser

        shown = f"[{ns.host}]" if ":" in ns.host else ns.host
        url = f"http://{shown}:{ns.port}/dashboard/"
        print(f"taskhub dashboard: opening {url}", file=sys.stderr)
        webbrowser.open(url)
    await serve(ns, settings)
