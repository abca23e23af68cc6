"""One task hub served side by side by ``taskhub func start`` (a subprocess) and a worker of this
project's own API running the same app in process (``load_functions_app``), started by HTTP and by
this project's client, every instance completes; once func start stops, the API worker alone carries on."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings
from tests.functions.host import APPS, start_func
from worker import Worker
from worker.functions.app import load_functions_app

pytestmark = pytest.mark.timeout(240)


async def test_func_start_and_an_api_worker_share_a_hub(
    azurite_connection_string: str, tmp_path: Path
) -> None:
    hub = "fsb" + uuid.uuid4().hex[:10]
    func = await asyncio.to_thread(start_func, "v2", tmp_path / "func", azurite_connection_string, hub)
    app_dir = tmp_path / "api"
    shutil.copytree(APPS / "v2", app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    settings = Settings.load(
        str(app_dir / "host.json"),
        env={
            "AzureWebJobsStorage": azurite_connection_string,
            "AzureFunctionsJobHost__extensions__durableTask__hubName": hub,
        },
    )
    worker = Worker(load_functions_app(app_dir, {}), settings)
    client = TaskHubClient(settings)
    await worker.start()
    try:
        checks = [await asyncio.to_thread(func.start, "fan_out_fan_in", {"count": n}) for n in range(2, 6)]
        ids = [
            await client.schedule_new_orchestration("fan_out_fan_in", input=json.dumps({"count": n}))
            for n in range(6, 10)
        ]
        for n, check in zip(range(2, 6), checks, strict=True):
            status = await asyncio.to_thread(func.wait, check["statusQueryGetUri"])
            assert (status["runtimeStatus"], status["output"]) == ("Completed", sum(i * i for i in range(n)))
        for n, iid in zip(range(6, 10), ids, strict=True):
            state = await client.wait_for_orchestration_completion(iid, timeout=120)
            assert state.output == sum(i * i for i in range(n)), state
        counter = await asyncio.to_thread(func.run, "eternal_counter", 0)
        assert (counter["runtimeStatus"], counter["output"]) == ("Completed", 3)
        # func start stops (releasing its partitions): the API worker alone serves the whole hub
        await asyncio.to_thread(func.stop)
        later = await client.schedule_new_orchestration("fan_out_fan_in", input=json.dumps({"count": 3}))
        state = await client.wait_for_orchestration_completion(later, timeout=150)
        assert state.output == 5, state
        assert worker.activities.started_count > 0
    finally:
        await worker.stop()
        await client.close()
        await asyncio.to_thread(func.stop)
