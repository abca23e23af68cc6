"""``taskhub replay MODULE:APP --id ID`` / ``--all``: load stored histories (read only) and replay each
against the current code with :func:`worker.replay_check.replay_history`, each at its own version.
Prints one JSON line per instance on stdout; exit status 1 with one line on stderr when any diverges."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings
from taskhub.errors import NonDeterminismError, OrchestrationNotFoundError
from taskhub.model.app import App
from worker.replay_check import ReplayCheck, replay_history

__all__ = ["replay_stored"]


def _time(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not an ISO 8601 time such as 2024-05-01T12:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _ids(client: TaskHubClient, ns: argparse.Namespace) -> AsyncIterator[str]:
    if not ns.all:
        for iid in ns.id:
            yield iid
        return
    token = None
    while True:
        page = await client.query_orchestrations(
            created_from=_time(ns.created_after, "--created-after"),
            created_to=_time(ns.created_before, "--created-before"),
            statuses=ns.runtime_status or None,
            instance_id_prefix=ns.instance_id_prefix,
            continuation_token=token,
        )
        for state in page.items:
            yield state.instance_id
        token = page.continuation_token
        if not token:
            return


async def replay_stored(app: App, settings: Settings, ns: argparse.Namespace) -> list[ReplayCheck]:
    """Replay the chosen instances; raises NonDeterminismError (after printing) when any diverges.
    Each replays at its own version (``ctx.version``); those a worker at ``--worker-version`` (default
    ``defaultVersion``) would not run under ``versionMatchStrategy`` are skipped, with the reason."""
    worker_version = getattr(ns, "worker_version", None)
    versioning = settings.versioning
    if worker_version is not None:
        versioning = replace(versioning, version=worker_version.strip() or None)
    checks: list[ReplayCheck] = []
    async with TaskHubClient(settings) as client:
        async for iid in _ids(client, ns):
            try:
                history = await client.get_orchestration_history(iid)
            except OrchestrationNotFoundError:
                if ns.all:
                    continue
                raise
            if not history:
                continue
            check = replay_history(app, history, instance_id=iid, versioning=versioning)
            checks.append(check)
            print(json.dumps(check.summary()), flush=True)  # noqa: T201
    bad = [c for c in checks if not c.ok]
    if bad:
        raise NonDeterminismError(
            f"replay: {len(bad)} of {len(checks)} instance(s) diverge from the current code "
            f"(first: {bad[0].instance_id!r})"
        )
    print(f"taskhub replay: {len(checks)} instance(s) replay cleanly", file=sys.stderr)  # noqa: T201
    return checks
