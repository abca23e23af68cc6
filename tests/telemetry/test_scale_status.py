"""``taskhub scale-status`` and ``GET /runtime/webhooks/durabletask/scale`` under a backlog of work items
and control messages (no worker running): the count they give is the target-based formula of the
inputs they print, and the inputs are the backlog that was put there."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from taskhub.config.settings import Settings
from taskhub.http.server import create_app
from taskhub.hub.lifecycle import TaskHub
from tests.helpers import REPO_ROOT

PREFIX = "AzureFunctionsJobHost__extensions__durableTask__"
BACKLOG = {"workitems": 7, 0: 5, 1: 0, 2: 1, 3: 3}


def _formula(reply: dict) -> int:
    activity = math.ceil(reply["workItemQueueLength"] / reply["maxConcurrentActivityFunctions"])
    lengths = reply["controlQueueLengths"]
    orchestrator = min(
        sum(1 for n in lengths if n > 0),
        math.ceil(sum(lengths) / reply["maxConcurrentOrchestratorFunctions"]),
    )
    return max(activity, orchestrator)


async def _fill(settings: Settings) -> None:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        names = hub.names
        for queue, n in BACKLOG.items():
            name = names.work_item_queue if queue == "workitems" else names.control_queues[int(queue)]
            for i in range(n):
                await hub.storage.send_message(name, f"not a DTFx message {i}")


async def test_scale_status_gives_the_formula_of_the_inputs_it_prints(
    azurite_connection_string: str, hub_name: str, tmp_path: Path
) -> None:
    host_json = tmp_path / "host.json"
    host_json.write_text('{"version": "2.0"}')
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AzureFunctionsJobHost")},
        "AzureWebJobsStorage": azurite_connection_string,
        PREFIX + "hubName": hub_name,
        PREFIX + "maxConcurrentActivityFunctions": "3",
        PREFIX + "maxConcurrentOrchestratorFunctions": "2",
    }
    settings = Settings.load(None, env=env)
    await _fill(settings)
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "taskhub", "scale-status", "--host-json", str(host_json)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert reply["workItemQueueLength"] == 7
    assert reply["controlQueueLengths"] == [5, 0, 1, 3]
    assert reply["maxConcurrentActivityFunctions"] == 3
    assert reply["maxConcurrentOrchestratorFunctions"] == 2
    # activities: ceil(7 / 3) = 3; orchestrators: min(3 busy queues, ceil(9 / 2) = 5) = 3
    assert reply["activityWorkers"] == 3 and reply["orchestratorWorkers"] == 3
    assert reply["targetWorkerCount"] == _formula(reply) == 3

    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            url = server.make_url("/runtime/webhooks/durabletask/scale")
            async with session.get(url) as resp:
                assert resp.status == 200
                over_http = await resp.json()
    finally:
        await server.close()
    assert over_http["targetWorkerCount"] == _formula(over_http) == 3
    assert over_http["controlQueueLengths"] == [5, 0, 1, 3]


async def test_scale_status_of_a_hub_that_does_not_exist_is_one_line(
    azurite_connection_string: str, hub_name: str, tmp_path: Path
) -> None:
    host_json = tmp_path / "host.json"
    host_json.write_text('{"version": "2.0"}')
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AzureFunctionsJobHost")},
        "AzureWebJobsStorage": azurite_connection_string,
        PREFIX + "hubName": hub_name,
    }
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "taskhub", "scale-status", "--host-json", str(host_json)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip().splitlines()[-1] == (
        f"taskhub: task hub {hub_name!r} has no queues in this storage account "
        "(not created yet, or another hubName?)"
    )
