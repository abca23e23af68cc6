"""Versions end to end on Azurite: stamped by the client (``defaultVersion`` or ``version=``), seen as
``ctx.version``, inherited by sub-orchestrations, kept by continue-as-new, stored where DTFx stores them
(the format check verifies it and catches a wrong one), shown by the HTTP status and accepted by the
HTTP start route's ``?version=``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from azure.data.tables import TableClient, UpdateMode

from taskhub import compare_versions
from taskhub.client.sync_client import SyncTaskHubClient
from taskhub.config.settings import Settings
from taskhub.format.history import (
    ExecutionStartedEvent,
    OrchestrationStatus,
    SubOrchestrationInstanceCreatedEvent,
)
from taskhub.http import create_app
from taskhub.model.app import App
from tests.e2e.conftest import E2E
from tests.format_check import check_hub_format, read_history_rows, read_instance_rows
from tests.helpers import REPO_ROOT, wait_for

app = App()


@app.orchestrator
def parent(ctx: Any, _: Any) -> Any:
    inherited = yield ctx.call_sub_orchestrator(child)
    named = yield ctx.call_sub_orchestrator(child, version="1.0")
    return {"me": ctx.version, "inherited": inherited, "named": named}


@app.orchestrator
def child(ctx: Any, _: Any) -> str:
    return str(ctx.version)


@app.orchestrator
def again(ctx: Any, n: int) -> Any:
    if n < 2:
        ctx.continue_as_new(n + 1)
        return None
    return ctx.version


@app.orchestrator
def branchy(ctx: Any, _: Any) -> Any:
    if compare_versions(ctx.version, "2.0") < 0:  # version 1 code path, kept while 1.x instances run
        return (yield ctx.call_activity(shout, input="one"))
    first = yield ctx.call_sub_orchestrator(child)
    return [first, (yield ctx.call_activity(shout, input="two"))]


@app.activity
def shout(ctx: Any, text: str) -> str:
    return text.upper()


@app.entity
def launcher(ctx: Any, input: Any) -> None:
    ctx.schedule_new_orchestration(child, instance_id=input)


@pytest.fixture
def e2e_settings(settings: Settings) -> Settings:
    """This hub's client and worker are at 2.0 (CurrentOrOlder: older instances run too)."""
    return settings.with_overrides(max_queue_polling_interval=timedelta(milliseconds=500), default_version="2.0")


async def _done(e2e: E2E, iid: str) -> Any:
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert state.runtime_status is OrchestrationStatus.COMPLETED, state
    return state


async def test_versions_flow_from_the_start_to_children_and_new_generations(e2e: E2E) -> None:
    stamped = await e2e.client.schedule_new_orchestration(parent, instance_id="stamped")
    older = await e2e.client.schedule_new_orchestration(parent, instance_id="older", version="1.5")
    looped = await e2e.client.schedule_new_orchestration(again, input=0, instance_id="looped")

    assert (await _done(e2e, stamped)).output == {"me": "2.0", "inherited": "2.0", "named": "1.0"}
    state = await _done(e2e, older)
    assert state.output == {"me": "1.5", "inherited": "1.5", "named": "1.0"}
    assert state.version == "1.5" and state.to_dict()["version"] == "1.5"
    state = await _done(e2e, looped)
    assert state.output == "2.0" and state.version == "2.0"

    history = await e2e.history(older)
    assert [e.version for e in history if isinstance(e, ExecutionStartedEvent)] == ["1.5"]
    assert [e.version for e in history if isinstance(e, SubOrchestrationInstanceCreatedEvent)] == ["1.5", "1.0"]
    await e2e.stop_workers()
    hub = e2e.client.service.hub
    rows = {r["PartitionKey"]: r for r in read_instance_rows(hub)}
    assert rows["stamped"]["Version"] == "2.0" and rows["older"]["Version"] == "1.5"
    assert rows["looped"]["Version"] == "2.0"
    report = await check_hub_format(hub)
    assert report.instances == 7  # three started, four children


async def test_the_format_check_catches_a_version_out_of_place(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(parent, instance_id="p", version="1.5")
    await _done(e2e, iid)
    await e2e.stop_workers()
    hub = e2e.client.service.hub
    conn = hub.settings.connection.connection_string
    assert conn is not None
    with TableClient.from_connection_string(conn, hub.names.instances_table) as table:
        row = next(r for r in read_instance_rows(hub) if r["PartitionKey"] == "p")
        table.upsert_entity({**row, "Version": "2.0"}, mode=UpdateMode.REPLACE)
        with pytest.raises(AssertionError, match=r"Version '2\.0' != the ExecutionStarted Version '1\.5'"):
            await check_hub_format(hub)
        table.upsert_entity(row, mode=UpdateMode.REPLACE)
    with TableClient.from_connection_string(conn, hub.names.history_table) as table:
        start = next(
            r for r in read_history_rows(hub) if r["PartitionKey"] == "p:0000" and r["EventType"] == "ExecutionStarted"
        )
        table.upsert_entity({**start, "Version": "9.9"}, mode=UpdateMode.REPLACE)
        with pytest.raises(AssertionError, match=r"the parent's SubOrchestrationInstanceCreated Version '1\.5'"):
            await check_hub_format(hub)
        table.upsert_entity(start, mode=UpdateMode.REPLACE)
    await check_hub_format(hub)


async def test_the_http_api_starts_a_version_and_shows_it(e2e: E2E) -> None:
    server = TestServer(create_app(e2e.settings), host="127.0.0.1")
    await server.start_server()
    try:
        hooks = str(server.make_url("/runtime/webhooks/durabletask"))
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{hooks}/orchestrators/child/h1?version=1.2.3", json=None) as r:
                assert r.status == 202, await r.text()
            async with session.post(f"{hooks}/orchestrators/child/h2", json=None) as r:
                assert r.status == 202, await r.text()
            await _done(e2e, "h1")
            await _done(e2e, "h2")
            async with session.get(f"{hooks}/instances/h1") as r:
                body = await r.json()
            assert (body["version"], body["output"]) == ("1.2.3", "1.2.3")
            async with session.get(f"{hooks}/instances/h2") as r:
                assert (await r.json())["version"] == "2.0"  # the server's defaultVersion
    finally:
        await server.close()


async def _cli(e2e: E2E, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),
        "AzureWebJobsStorage": e2e.settings.connection.connection_string or "",
        "AzureFunctionsJobHost__extensions__durableTask__hubName": e2e.settings.hub_name,
    }
    cmd = [sys.executable, "-m", "taskhub", *args]
    return await asyncio.to_thread(
        subprocess.run, cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90
    )


async def test_the_cli_starts_shows_and_replays_versions(e2e: E2E, tmp_path: Path) -> None:
    r = await _cli(e2e, tmp_path, "start-new", "--function-name", "branchy", "--id", "v1", "--version", "1.4")
    assert r.returncode == 0, r.stderr
    await e2e.client.schedule_new_orchestration(branchy, instance_id="v2")  # the worker's 2.0
    assert (await _done(e2e, "v1")).output == "ONE"
    assert (await _done(e2e, "v2")).output == ["2.0", "TWO"]
    r = await _cli(e2e, tmp_path, "get-runtime-status", "--id", "v1")
    assert json.loads(r.stdout)["version"] == "1.4", r.stderr

    # each instance replays at its own version: both code paths match their histories
    r = await _cli(e2e, tmp_path, "replay", "tests.e2e.test_versioning:app", "--id", "v1", "--id", "v2",
                   "--worker-version", "2.0")
    assert r.returncode == 0, r.stderr
    reports = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["version"], x["result"]) for x in reports] == [("1.4", "ok"), ("2.0", "ok")]
    # a worker at 1.5 (CurrentOrOlder) would leave the 2.0 instance alone: it is skipped, with the reason
    r = await _cli(e2e, tmp_path, "replay", "tests.e2e.test_versioning:app", "--all", "--worker-version", "1.5")
    assert r.returncode == 0, r.stderr
    by_id = {x["instanceId"]: x for x in map(json.loads, r.stdout.splitlines())}
    assert by_id["v1"]["result"] == "ok"
    assert by_id["v2"]["result"] == "skipped" and "'2.0' does not match worker version '1.5'" in by_id["v2"]["reason"]


async def test_an_orchestration_an_entity_starts_gets_the_default_version(e2e: E2E) -> None:
    await e2e.client.signal_entity("@launcher@k", "go", input="from-entity")

    async def started() -> Any:
        return await e2e.client.get_orchestration_state("from-entity")

    await wait_for(started, 30, 0.2, message="the entity started its orchestration")
    assert (await _done(e2e, "from-entity")).output == "2.0"


async def test_the_sync_client_starts_a_version(e2e: E2E) -> None:
    def start() -> str:
        with SyncTaskHubClient(e2e.settings) as client:
            return str(client.schedule_new_orchestration("child", instance_id="sync-1", version="1.1"))

    assert await asyncio.to_thread(start) == "sync-1"
    state = await _done(e2e, "sync-1")
    assert (state.version, state.output) == ("1.1", "1.1")
    with pytest.raises(TypeError, match=r"version must be a string such as '2\.0', got float"):
        await e2e.client.schedule_new_orchestration("child", version=2.0)  # type: ignore[arg-type]
