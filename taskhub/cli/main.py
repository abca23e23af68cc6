"""The ``taskhub`` command line: load the verbs, parse, run one, print JSON.

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
from collections.abc import Sequence
from urllib.parse import urlsplit

from taskhub.cli.registry import EXIT_FAILED, EXIT_OK, EXIT_USAGE, load_settings, verbs, where
from taskhub.cli.registry import build_parser as _build_parser
from taskhub.config.settings import Settings
from taskhub.errors import ConfigurationError, FormatError, TaskHubError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    _load_verbs()
    return _build_parser()


def _load_verbs() -> None:
    """Import the verb modules; they register themselves. Other packages (the worker) contribute
    verbs through the ``taskhub.cli`` entry-point group, so this package never imports them."""
    from importlib.metadata import entry_points

    import taskhub.cli.dashboard
    import taskhub.cli.entities
    import taskhub.cli.hub
    import taskhub.cli.instances
    import taskhub.cli.scale
    import taskhub.cli.serve  # noqa: F401

    for ep in entry_points(group="taskhub.cli"):
        try:
            ep.load()
        except ImportError as err:  # a broken plugin must not take the other verbs down
            print(f"taskhub: could not load the {ep.name!r} verbs: {err}", file=sys.stderr)


PROBE_TIMEOUT_S = 3.0
"""How long the storage endpoints get to accept a connection before a verb gives up (one line, exit 1)."""


async def _probe(settings: Settings) -> str | None:
    """None when every storage endpoint accepts a TCP connection, else one line saying which does not."""
    c = settings.connection
    targets: dict[tuple[str, int], str] = {}
    for service in ("queue", "table", "blob"):
        url = urlsplit(getattr(c, f"{service}_service_uri") or "")
        if url.hostname:
            port = url.port or (443 if url.scheme == "https" else 80)
            targets.setdefault((url.hostname, port), service)

    async def one(host: str, port: int) -> str | None:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), PROBE_TIMEOUT_S)
        except TimeoutError:
            return f"no answer within {PROBE_TIMEOUT_S:.0f} s"
        except OSError as err:
            return os.strerror(err.errno) if err.errno else str(err) or type(err).__name__
        writer.close()
        return None

    results = await asyncio.gather(*(one(h, p) for h, p in targets))
    for ((host, port), service), problem in zip(targets.items(), results, strict=True):
        if problem is not None:
            hint = (
                "; is Azurite running? `make azurite-start` starts it"
                if host in ("127.0.0.1", "localhost", "::1")
                else ""
            )
            return (
                f"taskhub: storage unreachable: the {service} endpoint of account {c.account_name or '?'} "
                f"at {host}:{port} does not answer ({problem}){hint}"
            )
    return None


async def _run(ns: argparse.Namespace, settings: Settings) -> object:
    problem = await _probe(settings)
    if problem is not None:
        raise _Unreachable(problem)
    return await verbs()[ns.verb][0](ns, settings)


class _Unreachable(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if ns.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("taskhub.config.settings").setLevel(logging.ERROR)  # notes are printed below
    try:
        settings = load_settings(ns)
    except ConfigurationError as err:
        print(f"taskhub: configuration error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(where(settings), file=sys.stderr, flush=True)
    for note in settings.notes:
        print(f"taskhub: warning: {note}", file=sys.stderr)
    try:
        result = asyncio.run(_run(ns, settings))
    except KeyboardInterrupt:
        print("taskhub: interrupted", file=sys.stderr)
        return 130
    except _Unreachable as err:
        print(err, file=sys.stderr)
        return EXIT_FAILED
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
    sys.stdout.flush()
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover - `python -m taskhub.cli.main`
    sys.exit(main())
