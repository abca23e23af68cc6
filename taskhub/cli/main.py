"""The ``taskhub`` command line: load the verbs, parse, run one, print JSON.

Verbs follow ``func durable``. Output is JSON on stdout; errors are one line on stderr. Exit status:
0 ok, 1 the operation failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence

from taskhub.cli.registry import EXIT_FAILED, EXIT_OK, EXIT_USAGE, load_settings, verbs
from taskhub.cli.registry import build_parser as _build_parser
from taskhub.errors import ConfigurationError, FormatError, TaskHubError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    _load_verbs()
    return _build_parser()


def _load_verbs() -> None:
    """Import the verb modules; they register themselves. Other packages (the worker) contribute
    verbs through the ``taskhub.cli`` entry-point group, so this package never imports them."""
    from importlib.metadata import entry_points

    import taskhub.cli.hub
    import taskhub.cli.instances
    import taskhub.cli.serve  # noqa: F401

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
    handler = verbs()[ns.verb][0]
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


if __name__ == "__main__":  # pragma: no cover - `python -m taskhub.cli.main`
    sys.exit(main())
