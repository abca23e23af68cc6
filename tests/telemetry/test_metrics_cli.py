"""``taskhub worker --metrics-port`` refuses what it cannot use with one line, before anything starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.helpers import REPO_ROOT


def _worker(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskhub", "worker", "tests.process.traced_apps:app", *args],
        cwd=REPO_ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_port_out_of_range_is_one_line() -> None:
    out = _worker("--metrics-port", "70000")
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .endswith("argument --metrics-port: expected a port number 0-65535 (0: any free port), got 70000")
    )
    assert "Traceback" not in out.stderr


def test_a_port_that_is_not_a_number_is_one_line() -> None:
    out = _worker(env={"TASKHUB_METRICS_PORT": "nine"})
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .endswith("argument --metrics-port: expected a port number 0-65535 (0: any free port), got 'nine'")
    )
    assert "Traceback" not in out.stderr


def test_a_port_in_use_is_one_line(azurite_connection_string: str) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = _worker("--metrics-port", str(port), env={"AzureWebJobsStorage": azurite_connection_string})
    assert out.returncode == 2, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"taskhub: --metrics-port {port}: cannot listen on 0.0.0.0:{port} ("), last
    assert "Traceback" not in out.stderr
