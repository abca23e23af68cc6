"""The ``taskhub`` command line.

Verbs follow ``func durable``. Output is JSON on stdout; errors are one line on stderr. Exit status:
0 ok, 1 the operation failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from taskhub.errors import ConfigurationError, FormatError, TaskHubError
from taskhub.settings import Settings

__all__ = ["main", "build_parser", "load_settings"]

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
    _load_verbs()
    parser = argparse.ArgumentParser(prog="taskhub", description="Durable task hub on Azure Storage")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for name, (_fn, add_args, help_text) in _VERBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _common(p)
        add_args(p)
    return parser


def load_settings(ns: argparse.Namespace) -> Settings:
    """Settings from --host-json and the environment, with the CLI's overrides applied."""
    env = dict(os.environ)
    if ns.connection_string_setting:
        env["AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionName"] = (
            ns.connection_string_setting
        )
    settings = Settings.load(ns.host_json, env=env)
    if ns.task_hub_name:
        settings = settings.with_overrides(hub_name=ns.task_hub_name)
    if settings.connection.is_default:
        print(
            "taskhub: no storage connection configured (AzureWebJobsStorage); using the local Azurite "
            "(UseDevelopmentStorage=true)",
            file=sys.stderr,
        )
    return settings


def _load_verbs() -> None:
    """Import the verb modules; they register themselves. Other packages (the worker) contribute
    verbs through the ``taskhub.cli`` entry-point group, so this package never imports them."""
    from importlib.metadata import entry_points

    from taskhub import cli_hub, cli_instances, cli_serve  # noqa: F401

    for ep in entry_points(group="taskhub.cli"):
        try:
            ep.load()
        except ImportError as err:  # a broken plugin must not take the other verbs down
            print(f"taskhub: could not load the {ep.name!r} verbs: {err}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if ns.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    handler = _VERBS[ns.verb][0]
    try:
        settings = load_settings(ns)
    except ConfigurationError as err:
        print(f"taskhub: configuration error: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = asyncio.run(handler(ns, settings))
    except KeyboardInterrupt:
        print("taskhub: interrupted", file=sys.stderr)
        return 130
    except ConfigurationError as err:
        print(f"taskhub: configuration error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except FormatError as err:
        print(f"taskhub: {err}", file=sys.stderr)
        return EXIT_FAILED
    except (ValueError, TypeError) as err:  # bad arguments: ids, JSON, times, names
        print(f"taskhub: {err}", file=sys.stderr)
        return EXIT_USAGE
    except LookupError as err:  # e.g. no such poisoned message
        print(f"taskhub: {err.args[0] if err.args else err}", file=sys.stderr)
        return EXIT_FAILED
    except TaskHubError as err:
        print(f"taskhub: {err}", file=sys.stderr)
        return EXIT_FAILED
    if result is not None:
        json.dump(result, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover - `python -m taskhub.cli`: use the registry of the real module
    from taskhub.cli import main as _main

    sys.exit(_main())
