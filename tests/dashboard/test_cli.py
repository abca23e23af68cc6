"""`taskhub dashboard` starts the server and prints the dashboard's URL; `taskhub serve --read-only`
refuses changes. Real processes on the session's Azurite."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(90)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(verb: list[str], conn: str, hub: str, cwd: Path) -> subprocess.Popen[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "AzureWebJobsStorage": conn,
        "AzureFunctionsJobHost__extensions__durableTask__hubName": hub,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "taskhub", *verb],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_dashboard_verb_prints_the_url_it_serves(
    azurite_connection_string: str, hub_name: str, tmp_path: Path
) -> None:
    port = _free_port()
    proc = _start(["dashboard", "--port", str(port)], azurite_connection_string, hub_name, tmp_path)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url == f"http://127.0.0.1:{port}/dashboard/"
        with urllib.request.urlopen(url + f"?taskHub={hub_name}", timeout=20) as r:
            page = r.read().decode()
            assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert f"<h1>Instances <small>{hub_name}</small></h1>" in page
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_read_only_refuses_changes(
    azurite_connection_string: str, hub_name: str, tmp_path: Path
) -> None:
    port = _free_port()
    proc = _start(
        ["serve", "--port", str(port), "--read-only"], azurite_connection_string, hub_name, tmp_path
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            urllib.request.urlopen(base + "/dashboard/", timeout=5).close()
            return True
        except OSError:
            return False

    try:
        wait_until(up, 30, 0.2)
        request = urllib.request.Request(
            base + "/runtime/webhooks/durabletask/orchestrators/chain", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=20)
        assert err.value.code == 403
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/dashboard/start", timeout=20)
        assert err.value.code == 403 and "read-only" in err.value.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
