"""The verb registry of the ``taskhub`` command: ``@verb`` registers a handler, ``build_parser`` builds
argparse from what is registered, ``load_settings`` turns the common flags into Settings.

Verb modules (``taskhub.cli.hub``, ``.instances``, ``.serve``, and ``worker.cli`` through the
``taskhub.cli`` entry-point group) import this module; ``taskhub.cli.main`` imports them. Nothing here
imports a verb module, so there is no import circle.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Coroutine
from typing import Any

from taskhub.config.connection import connection_from_string
from taskhub.config.local_azurite import find_local_azurite
from taskhub.config.settings import Settings

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "Handler", "build_parser", "load_settings", "verb", "verbs", "where"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, Any]]
_VERBS: dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None], str]] = {}


def verb(
    name: str, help: str, args: Callable[[argparse.ArgumentParser], None] = lambda p: None
) -> Callable[[Handler], Handler]:
    """Register a CLI verb: an async handler returning a JSON-able result (or None)."""

    def register(fn: Handler) -> Handler:
        _VERBS[name] = (fn, args, help)
        return fn

    return register


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host-json", default="host.json", help="path of host.json (default: ./host.json)")
    p.add_argument("--task-hub-name", help="override extensions.durableTask.hubName")
    p.add_argument(
        "--connection-string-setting",
        help="name of the setting holding the storage connection (default AzureWebJobsStorage)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")


def build_parser() -> argparse.ArgumentParser:
    """argparse for every verb registered so far (``taskhub.cli.main`` loads them first)."""
    parser = argparse.ArgumentParser(prog="taskhub", description="Durable task hub on Azure Storage")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for name, (_fn, add_args, help_text) in _VERBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _common(p)
        add_args(p)
    return parser


def load_settings(ns: argparse.Namespace) -> Settings:
    """Settings from --host-json and the environment, with the CLI's overrides applied. With no storage
    connection configured, the Azurite this checkout started (``azurite/.run``) is used, on whatever
    ports it runs; without one, ``UseDevelopmentStorage=true``."""
    env = dict(os.environ)
    if ns.connection_string_setting:
        env["AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionName"] = (
            ns.connection_string_setting
        )
    settings = Settings.load(ns.host_json, env=env)
    if ns.task_hub_name:
        settings = settings.with_overrides(hub_name=ns.task_hub_name)
    if settings.connection.is_default:
        found = find_local_azurite()
        if found is not None:
            conn, run_dir = found
            settings = settings.with_overrides(connection=connection_from_string(str(run_dir), conn))
    return settings


def where(settings: Settings) -> str:
    """The first line every verb prints on stderr: which hub on which account (never a secret)."""
    c = settings.connection
    endpoint = c.queue_service_uri or "?"
    if c.is_default:
        origin = "no connection configured: Azurite on its standard ports"
    elif c.name.endswith(".run"):
        origin = f"no connection configured: the Azurite recorded in {c.name}"
    else:
        origin = f"from the setting {c.name}"
    return f"taskhub: hub {settings.hub_name}, account {c.account_name or '?'} at {endpoint} ({origin})"


def verbs() -> dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None], str]]:
    """The registered verbs: name -> (handler, add_arguments, help)."""
    return _VERBS
