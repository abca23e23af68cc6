"""The mistakes of issue 10, each answered with one line; rewind, restart and replay from the command line."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from taskhub.format.history import OrchestrationStatus
from taskhub.http import create_app
from tests.helpers import REPO_ROOT
from tests.newcomer.apps import app, expected_chain
from worker.replay_check import load_history_json, replay_history

pytestmark = pytest.mark.app(app)


def _env(conn: str, hub: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),
        "AzureWebJobsStorage": conn,
        "AzureFunctionsJobHost__extensions__durableTask__hubName": hub,
    }


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskhub", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=90
    )


async def cli(e2e, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    conn = e2e.settings.connection.connection_string
    return await asyncio.to_thread(run_cli, list(args), _env(conn, e2e.settings.hub_name), tmp_path)


def lines(text: str) -> list[str]:
    return text.strip().splitlines()


async def failed_instance(e2e) -> str:
    iid = await e2e.client.schedule_new_orchestration("flaky_chain", input=4)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert state.runtime_status is OrchestrationStatus.FAILED
    return iid


async def test_raise_event_to_a_finished_instance_fails_with_one_line(e2e, tmp_path) -> None:
    iid = await failed_instance(e2e)
    r = await cli(e2e, tmp_path, "raise-event", "--id", iid, "--event-name", "Go", "--event-data", "1")
    assert r.returncode == 1 and r.stdout == ""
    first, error = lines(r.stderr)
    assert first.startswith(
        f"taskhub: hub {e2e.settings.hub_name}, account devstoreaccount1 at http://127.0.0.1:"
    )
    assert "AccountKey" not in r.stderr
    assert error == (
        f"taskhub: cannot raise event 'Go' to orchestration {iid!r}: it is Failed; "
        "events reach only Pending, Running or Suspended instances"
    )


async def test_rewind_and_restart_verbs(e2e, tmp_path) -> None:
    iid = await failed_instance(e2e)
    r = await cli(e2e, tmp_path, "rewind", "--id", iid, "--reason", "fixed")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("}\n")  # JSON ends with a newline
    assert json.loads(r.stdout) == {"instanceId": iid, "rewound": True, "runtimeStatus": "Pending"}
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert (state.runtime_status, state.output) == (OrchestrationStatus.COMPLETED, expected_chain(4))

    again = await cli(e2e, tmp_path, "rewind", "--id", iid)
    assert again.returncode == 1
    assert lines(again.stderr)[-1] == (
        f"taskhub: cannot rewind orchestration {iid!r}: it is Completed; only a Failed instance can be rewound"
    )

    r = await cli(e2e, tmp_path, "restart", "--id", iid, "--restart-with-new-instance-id", "false")
    assert json.loads(r.stdout) == {"instanceId": iid, "restartedFrom": iid}
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert (state.input, state.output) == (4, expected_chain(4))
    r = await cli(e2e, tmp_path, "restart", "--id", iid)
    new_id = json.loads(r.stdout)["instanceId"]
    assert new_id != iid
    state = await e2e.client.wait_for_orchestration_completion(new_id, timeout=30)
    assert (state.input, state.runtime_status) == (4, OrchestrationStatus.FAILED)  # a new id fails once


async def test_rewind_over_http_under_both_prefixes(e2e) -> None:
    server = TestServer(create_app(e2e.settings), host="127.0.0.1")
    await server.start_server()
    try:
        base = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as http:
            for prefix in ("/runtime/webhooks/durabletask", "/durabletask"):
                iid = await failed_instance(e2e)
                async with http.post(f"{base}{prefix}/instances/{iid}/rewind?reason=r") as resp:
                    assert resp.status == 202
                state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
                assert state.output == expected_chain(4)
                async with http.post(f"{base}{prefix}/instances/{iid}/rewind") as resp:
                    assert resp.status == 410  # Completed
                async with http.post(f"{base}{prefix}/instances/nope/rewind") as resp:
                    assert resp.status == 404
            async with http.get(f"{base}/openapi.json") as resp:
                doc = await resp.json()
            rewind = doc["paths"]["/runtime/webhooks/durabletask/instances/{instanceId}/rewind"]["post"]
            assert {"202", "400", "404", "410"} <= set(rewind["responses"])
    finally:
        await server.close()


async def test_replay_reports_the_diverging_event(e2e, tmp_path) -> None:
    iid = await e2e.client.schedule_new_orchestration("flaky_chain", input=1)
    await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    await e2e.client.rewind_orchestration(iid)
    await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    ok = await cli(e2e, tmp_path, "replay", "tests.newcomer.apps:app", "--id", iid)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["result"] == "ok"

    changed = await cli(e2e, tmp_path, "replay", "tests.newcomer.apps_v2:app", "--all")
    assert changed.returncode == 1
    report = json.loads(lines(changed.stdout)[0])
    assert report["result"] == "diverged" and report["instanceId"] == iid
    assert report["divergingEvent"] == {"EventType": "TaskScheduled", "EventId": 0, "Name": "plus_one"}
    assert "is not deterministic: at EventId 0 history holds" in report["error"]
    assert lines(changed.stderr)[-1].startswith("taskhub: replay: 1 of 1 instance(s) diverge")

    raw = await cli(e2e, tmp_path, "get-history", "--id", iid, "--raw")
    (tmp_path / "h.json").write_text(raw.stdout)
    from tests.newcomer import apps_v2

    check = replay_history(apps_v2.app, load_history_json(tmp_path / "h.json"))
    assert not check.ok and check.event is not None and check.event.event_id == 0
    assert replay_history(app, load_history_json(tmp_path / "h.json")).ok


@pytest.mark.app(None)
async def test_start_new_warns_when_no_worker_holds_the_hub(e2e, tmp_path) -> None:
    r = await cli(
        e2e, tmp_path, "start-new", "--function-name", "flaky_chain", "--id", "lonely", "--input", "1"
    )
    assert r.returncode == 0 and json.loads(r.stdout) == {"instanceId": "lonely"}
    assert lines(r.stderr)[-1] == (
        f"taskhub: warning: no worker has held a lease on hub {e2e.settings.hub_name}'s control queues in the "
        "last 30 s; the instance stays Pending until one runs (taskhub worker MODULE:APP)"
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "args",
    [
        ["start-new", "--function-name", "x"],
        ["get-partitions"],
        ["poison", "list"],
        ["worker", "examples.all:app"],
        ["get-instances"],
        ["serve", "--port", "1"],
    ],
)
def test_unreachable_storage_is_one_line_for_every_verb(args, tmp_path) -> None:
    port = _closed_port()
    conn = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0;"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    r = run_cli(args, _env(conn, "Unreachable1"), tmp_path)
    assert r.returncode == 1
    assert lines(r.stderr)[1:] == [
        f"taskhub: storage unreachable: the queue endpoint of account devstoreaccount1 at 127.0.0.1:{port} "
        "does not answer (Connection refused); is Azurite running? `make azurite-start` starts it"
    ]
    assert "c2VjcmV0" not in r.stderr and "Unclosed" not in r.stderr


def test_host_json_mistakes_are_plain_one_liners(tmp_path) -> None:
    env = _env("UseDevelopmentStorage=true", "Plain1")
    r = run_cli(["get-instances", "--host-json", "nope.json"], env, tmp_path)
    assert (r.returncode, lines(r.stderr)) == (2, ["taskhub: configuration error: nope.json: file not found"])
    (tmp_path / "host.json").write_text('{"version": "2.0", "extensions": {"durableTask" {}}}')
    r = run_cli(["get-instances"], env, tmp_path)
    assert (r.returncode, lines(r.stderr)) == (
        2,
        [
            "taskhub: configuration error: host.json line 1 column 49: not valid JSON: a colon is missing after a key"
        ],
    )
    (tmp_path / "host.json").write_text(
        '{"version": "2.0", "extensions": {"durableTask": {"storageProvider": {"partitonCount": 2}}}}'
    )
    r = run_cli(["get-instances", "--host-json", "host.json", "--top", "0"], env, tmp_path)
    assert lines(r.stderr)[1] == (
        "taskhub: warning: host.json: unknown key extensions.durableTask.storageProvider.partitonCount is "
        "ignored; did you mean partitionCount?"
    )


def test_serve_on_a_port_in_use_is_one_line(azurite_connection_string, hub_name, tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_cli(["serve", "--port", str(port)], _env(azurite_connection_string, hub_name), tmp_path)
    assert r.returncode == 2
    assert lines(r.stderr)[1:] == [
        f"taskhub: port {port} on 127.0.0.1 is already in use (another taskhub serve or func host?); "
        "stop it or choose another port with --port"
    ]


@pytest.mark.front_door
async def test_get_runtime_status_shows_the_input_unless_told_not_to(e2e, tmp_path) -> None:
    iid = await e2e.client.schedule_new_orchestration("flaky_chain", input=1, instance_id="shown-1")
    await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    shown = await cli(e2e, tmp_path, "get-runtime-status", "--id", iid)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["input"] == 1  # as the HTTP status shows it (showInput defaults to true)
    explicit = await cli(e2e, tmp_path, "get-runtime-status", "--id", iid, "--show-input")
    assert json.loads(explicit.stdout)["input"] == 1
    hidden = await cli(e2e, tmp_path, "get-runtime-status", "--id", iid, "--no-show-input")
    assert json.loads(hidden.stdout)["input"] is None


def test_worker_takes_a_file_path_and_hints_at_module_app(monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.cli import load_app

    monkeypatch.chdir(REPO_ROOT)
    assert "approval_workflow" in load_app("examples/all.py").orchestrator_names
    assert load_app("examples/all.py:app") is load_app("examples.all:app")
    hint = "(give MODULE:APP, e.g. examples.all:app, or the file, e.g. examples/all.py)"
    with pytest.raises(ValueError) as missing:
        load_app("examples/nope.py")
    assert str(missing.value) == f"no such file: 'examples/nope.py' {hint}"
    with pytest.raises(ValueError) as unknown:
        load_app("examples.nope")
    message = str(unknown.value)
    assert message.startswith("cannot import 'examples.nope': ") and message.endswith(hint)
