"""The entity verbs of the `taskhub` command, as a subprocess against the test's hub."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from taskhub.model.entities import EntityId
from tests.entities.apps import app
from tests.entities.conftest import E2E
from tests.helpers import REPO_ROOT, wait_for

pytestmark = [pytest.mark.timeout(180), pytest.mark.app(app)]


async def cli(e2e: E2E, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),
        "AzureWebJobsStorage": e2e.settings.connection.connection_string or "",
        "AzureFunctionsJobHost__extensions__durableTask__hubName": e2e.settings.hub_name,
    }
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "taskhub", *args], env=env, cwd=cwd, capture_output=True,
        text=True, timeout=90,
    )  # fmt: skip


async def test_signal_get_list_and_clean_from_the_command_line(e2e: E2E, tmp_path: Path) -> None:
    r = await cli(
        e2e, tmp_path, "signal-entity", "--name", "Counter", "--key", "cli", "--op", "add", "--input", "4"
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["instanceId"] == "@counter@cli"
    await wait_for(
        lambda: e2e.client.get_entity(EntityId("counter", "cli")), 60, 0.2, message="entity exists"
    )
    r = await cli(e2e, tmp_path, "get-entity", "--name", "counter", "--key", "cli")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["state"] == 4 and shown["exists"] and shown["lockedBy"] is None
    r = await cli(e2e, tmp_path, "list-entities", "--name", "counter", "--show-state")
    assert [e["state"] for e in json.loads(r.stdout)["entities"]] == [4]
    r = await cli(e2e, tmp_path, "get-entity", "--name", "counter", "--key", "nope")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip().splitlines()[-1].startswith("taskhub: no entity '@counter@nope'")
    r = await cli(e2e, tmp_path, "signal-entity", "--name", "a@b", "--key", "k", "--op", "add")
    assert r.returncode == 2 and "may not contain '@'" in r.stderr.strip().splitlines()[-1]
    r = await cli(e2e, tmp_path, "clean-entity-storage")
    assert r.returncode == 0 and json.loads(r.stdout) == {
        "emptyEntitiesRemoved": 0,
        "orphanedLocksReleased": 0,
    }
