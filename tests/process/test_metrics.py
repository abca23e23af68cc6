"""A worker process with ``TASKHUB_METRICS_PORT`` serves Prometheus text; scraped during a fan-out, the
work-item backlog rises and falls back to zero, and the activity counter reaches the fan-out's width."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from pathlib import Path

import aiohttp
import pytest

from taskhub.client.async_client import TaskHubClient
from tests.process.harness import (
    ENV_PREFIX,
    FAST_LEASES,
    Fleet,
    hub_env,
    settings_of,
    settled,
    wait_ownership,
)

pytestmark = [pytest.mark.slow]

APP = "tests.process.traced_apps:app"
WIDTH = 40
_SERIES = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _value(text: str, series: str, /, **labels: str) -> float | None:
    for line in text.splitlines():
        m = _SERIES.match(line)
        if m and m[1] == series and all(f'{k}="{v}"' in (m[2] or "") for k, v in labels.items()):
            return float(m[3])
    return None


@pytest.mark.timeout(120)
async def test_scrape_sees_the_backlog_of_a_fan_out_rise_and_fall(
    azurite_connection_string: str, hub_name: str, tmp_path: Path
) -> None:
    env = hub_env(azurite_connection_string, hub_name, leases=FAST_LEASES)
    env[ENV_PREFIX + "maxConcurrentActivityFunctions"] = "2"  # 40 activities of 0.2 s: a backlog for ~4 s
    settings = settings_of(env)
    port = _free_port()
    fleet = Fleet(env, tmp_path / "workers", app=APP)
    url = f"http://127.0.0.1:{port}/metrics"
    backlog: list[float] = []
    try:
        async with TaskHubClient(settings) as client, aiohttp.ClientSession() as http:
            await client.service.hub.create_if_not_exists()
            fleet.start("w1", extra_env={"TASKHUB_METRICS_PORT": str(port)})
            await wait_ownership(client.service.hub, lambda v: settled(v, {"w1"}), 60)
            instance_id = await client.schedule_new_orchestration("fan_out", input=WIDTH)
            deadline = time.monotonic() + 60
            done = False
            while time.monotonic() < deadline:
                async with http.get(url) as resp:
                    assert resp.status == 200
                    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                    text = await resp.text()
                queued = _value(text, "taskhub_queue_messages", kind="workitems")
                if queued is not None:
                    backlog.append(queued)
                if done and queued == 0:
                    break
                if not done:
                    state = await client.get_orchestration_state(instance_id)
                    done = state is not None and state.runtime_status.value == "Completed"
                await asyncio.sleep(0.3)
    finally:
        fleet.close()
    print(f"work-item backlog seen by the scrapes: {backlog}")
    assert max(backlog) >= 10, backlog  # it rose ...
    assert backlog[-1] == 0, backlog  # ... and fell back to nothing
    assert _value(text, "taskhub_activities_total", name="nap", result="completed") == WIDTH
    assert (_value(text, "taskhub_episodes_total", status="Completed") or 0) >= 1
    assert _value(text, "taskhub_partitions_owned") == 4
    assert (_value(text, "taskhub_storage_calls_total", op="send_message") or 0) >= 1
    assert _value(text, "taskhub_activity_duration_seconds_count", name="nap") == WIDTH
