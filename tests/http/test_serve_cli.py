"""`taskhub serve`: loopback by default; beyond loopback only with a key, which is never printed."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(conn: str, hub: str, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "AzureWebJobsStorage": conn,
        "AzureFunctionsJobHost__extensions__durableTask__hubName": hub,
        **extra,
    }


def test_binding_beyond_loopback_without_a_key_is_refused(azurite_connection_string, hub_name, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "taskhub", "serve", "--host", "0.0.0.0", "--port", str(_free_port())],
        env=_env(azurite_connection_string, hub_name),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()  # which hub on which account, then the one-line error
    assert len(lines) == 2 and lines[0].startswith(f"taskhub: hub {hub_name}, account "), lines
    assert "TASKHUB_HTTP_KEY" in lines[1]


@pytest.mark.front_door
def test_key_protects_a_server_bound_beyond_loopback(azurite_connection_string, hub_name, tmp_path):
    port = _free_port()
    secret = "key-of-" + hub_name
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskhub", "serve", "--host", "0.0.0.0", "--port", str(port)],
        env=_env(azurite_connection_string, hub_name, TASKHUB_HTTP_KEY=secret),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask/instances"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=5)
                raise AssertionError("served without the key")
            except urllib.error.HTTPError as err:
                assert err.code == 401
                assert secret not in err.read().decode()
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        with urllib.request.urlopen(url + f"?code={secret}", timeout=10) as ok:
            assert ok.status == 200
        req = urllib.request.Request(url, headers={"x-functions-key": secret})
        with urllib.request.urlopen(req, timeout=10) as ok:
            assert ok.status == 200
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert secret not in out and secret not in err
    assert "key required" in err


def test_a_short_key_or_a_bad_allowed_host_stops_the_server_with_one_line(
    azurite_connection_string, hub_name, tmp_path
):
    cases = [
        ([], {"TASKHUB_HTTP_KEY": "abc"}, "at least 16 printable characters"),
        ([], {"TASKHUB_HTTP_KEY": "a key with spaces in it"}, "without whitespace"),
        (["--allowed-host", "http://tasks.example:8080"], {}, "bare host name"),
    ]
    for args, extra, words in cases:
        r = subprocess.run(
            [sys.executable, "-m", "taskhub", "serve", "--port", str(_free_port()), *args],
            env=_env(azurite_connection_string, hub_name, **extra),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode != 0, args
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 2 and words in lines[1], lines
        assert "abc" not in lines[1] and "spaces" not in lines[1]
