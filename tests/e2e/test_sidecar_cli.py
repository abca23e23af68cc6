"""`taskhub sidecar` as a user starts it: loopback by default, beyond loopback only with a key, a port
in use is one line, and with --app it is a worker too: the SDK's client runs an orchestration through it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from durabletask import client as dt

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(conn: str, hub: str, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "AzureWebJobsStorage": conn,
        "AzureFunctionsJobHost__extensions__durableTask__hubName": hub,
        **extra,
    }


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskhub", "sidecar", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_starts_say_what_is_wrong_in_one_line(azurite_connection_string, hub_name, tmp_path):
    env = _env(azurite_connection_string, hub_name)
    beyond = _run(["--host", "0.0.0.0", "--port", str(_free_port())], env, tmp_path)
    assert beyond.returncode == 2
    lines = beyond.stderr.strip().splitlines()  # which hub on which account, then the one-line error
    assert len(lines) == 2 and "TASKHUB_HTTP_KEY" in lines[1], lines

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = _run(["--port", str(taken.getsockname()[1])], env, tmp_path)
    assert busy.returncode != 0
    lines = busy.stderr.strip().splitlines()
    assert len(lines) == 2 and "cannot listen on 127.0.0.1:" in lines[1], lines

    bad_port = _run(["--port", "70000"], env, tmp_path)
    assert bad_port.returncode != 0 and "--port must be 1-65535" in bad_port.stderr


@pytest.mark.front_door
def test_sidecar_with_an_app_runs_what_the_sdk_client_starts(azurite_connection_string, hub_name, tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taskhub",
            "sidecar",
            "--port",
            str(port),
            "--app",
            "tests.e2e.test_sidecar_client:app",
        ],
        env=_env(
            azurite_connection_string,
            hub_name,
            AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval="00:00:01",
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = dt.TaskHubGrpcClient(host_address=f"localhost:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                iid = client.schedule_new_orchestration("greet", input="cli")
                break
            except grpc.RpcError as err:
                assert err.code() is grpc.StatusCode.UNAVAILABLE, err
                assert time.monotonic() < deadline and proc.poll() is None, "the sidecar did not start"
                time.sleep(0.3)
        done = client.wait_for_orchestration_completion(iid, timeout=60)
        assert done is not None and done.get_output() == {"hello": "cli"}
    finally:
        client.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (
        f"taskhub sidecar: hub {hub_name} on 127.0.0.1:{port} (no key, loopback only), runs tests.e2e.test_sidecar_client:app itself"
        in err
    )
