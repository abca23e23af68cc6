"""``taskhub func start`` running a v1 app (function.json folders, ``__app__`` relative imports, an
``orchestrationClient`` binding and a named http output), and the one-line errors of apps it cannot run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.functions.host import APPS, env, free_port, start_func

pytestmark = pytest.mark.timeout(180)


def test_v1_chaining_with_custom_status(azurite_connection_string: str, tmp_path: Path) -> None:
    func = start_func("v1", tmp_path, azurite_connection_string, "fv1" + uuid.uuid4().hex[:10])
    try:
        status = func.run("HelloSequence")
        assert status["runtimeStatus"] == "Completed"
        assert status["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
        assert status["customStatus"] == "all greeted"
    finally:
        out, _err = func.stop()
    assert f"HttpStart: [POST] http://localhost:{func.port}/api/orchestrators/{{functionName}}" in out
    assert "HelloSequence: orchestrationTrigger" in out and "SayHello: activityTrigger" in out
    assert "Notify: activityTrigger (skipped: its twilioSms binding 'message' is not supported" in out


def _func_start(app_dir: Path, conn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskhub", "func", "start", "--port", str(free_port())],
        env=env(conn, "ferr" + uuid.uuid4().hex[:8]),
        cwd=app_dir,
        capture_output=True,
        text=True,
        timeout=90,
    )


def _error(app_dir: Path, conn: str) -> str:
    r = _func_start(app_dir, conn)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("taskhub: hub "), lines  # which hub, (the SDK's own warnings,) the error
    assert "Traceback" not in r.stderr
    return lines[-1]


def _v2_app(tmp_path: Path, source: str) -> Path:
    shutil.copytree(APPS / "v2", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "app" / "function_app.py").write_text(source)
    return tmp_path / "app"


def test_errors_a_user_can_act_on(azurite_connection_string: str, tmp_path: Path) -> None:
    conn = azurite_connection_string
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no function_app.py and no */function.json in" in _error(empty, conn)

    broken = _v2_app(tmp_path / "broken", "import azure.functions as func\napp = func.FunctionApp(\n")
    line = _error(broken, conn)
    assert line.startswith("taskhub: cannot import function_app.py: SyntaxError") and "line 2" in line

    header = "import azure.durable_functions as df\nimport azure.functions as func\n"
    two = _v2_app(tmp_path / "two", header + "app = df.DFApp()\nother = func.FunctionApp()\n")
    assert "defines 2 function apps; there must be exactly one" in _error(two, conn)

    none = _v2_app(tmp_path / "none", header + "x = 1\n")
    assert "defines no function app" in _error(none, conn)

    ctx = _v2_app(
        tmp_path / "ctx",
        header
        + "app = df.DFApp()\n\n@app.orchestration_trigger(context_name='ctx')\ndef orch(ctx):\n    return 1\n",
    )
    line = _error(ctx, conn)
    assert "orchestrator 'orch'" in line and "named 'ctx'" in line and 'context_name="context"' in line
