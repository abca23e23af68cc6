"""Running ``taskhub func start`` as a user does: a subprocess in a copy of an app's folder, on the
session's Azurite, driven over HTTP."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
FINISHED = ("Completed", "Failed", "Terminated", "Canceled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env(conn: str, hub: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "AzureWebJobsStorage": conn,
        "AzureFunctionsJobHost__extensions__durableTask__hubName": hub,
    }


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(method: str, url: str, body: Any = None, *, timeout: float = 30) -> Response:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, dict(err.headers), err.read())


@dataclass
class FuncHost:
    proc: subprocess.Popen[str]
    port: int
    app_dir: Path
    hub: str

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, name: str, input: Any = None, instance_id: str | None = None) -> dict[str, Any]:
        """POST the app's own HTTP starter, as a user does; the check-status payload."""
        path = f"/api/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
        r = request("POST", self.origin + path, input)
        assert r.status == 202, (r.status, r.body[:300])
        payload: dict[str, Any] = r.json()
        return payload

    def wait(
        self, status_url: str, *, timeout: float = 90, until: tuple[str, ...] = FINISHED
    ) -> dict[str, Any]:
        """Poll statusQueryGetUri until the instance reaches one of ``until``."""
        deadline = time.monotonic() + timeout
        while True:
            r = request("GET", status_url)
            assert r.status in (200, 202), (r.status, r.body[:300])
            status: dict[str, Any] = r.json()
            if status["runtimeStatus"] in until:
                return status
            assert time.monotonic() < deadline, f"still {status['runtimeStatus']} after {timeout} s: {status}"
            time.sleep(0.3)

    def run(self, name: str, input: Any = None, **kwargs: Any) -> dict[str, Any]:
        return self.wait(self.start(name, input)["statusQueryGetUri"], **kwargs)

    def stop(self) -> tuple[str, str]:
        self.proc.terminate()
        try:
            return self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate(timeout=10)


def start_func(
    app: str,
    tmp: Path,
    conn: str,
    hub: str,
    extra_env: dict[str, str] | None = None,
    without: tuple[str, ...] = (),
) -> FuncHost:
    """Copy tests/functions/apps/<app> to ``tmp`` and run ``taskhub func start`` in it (``without``: leave
    these variables out of its environment)."""
    app_dir = tmp / app
    shutil.copytree(APPS / app, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskhub", "func", "start", "--port", str(port)],
        env={k: v for k, v in {**env(conn, hub), **(extra_env or {})}.items() if k not in without},
        cwd=app_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    host = FuncHost(proc, port, app_dir, hub)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            _out, err = proc.communicate()
            raise AssertionError(f"taskhub func start exited {proc.returncode}: {err[-2000:]}")
        try:
            if (
                request("GET", host.origin + "/runtime/webhooks/durabletask/instances", timeout=5).status
                == 200
            ):
                return host
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        assert time.monotonic() < deadline, "taskhub func start did not start listening"
        time.sleep(0.2)
