"""The SDK's own test suite, shipped in the azure-functions-durable wheel (functions-host.md 10): its
orchestrator and task tests build histories the way a host does and check the SDK's replies. They run
here, on the versions this project installs, so that an SDK upgrade that changes the protocol this host
implements shows up as a failure."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import azure.durable_functions as df
import pytest


@pytest.mark.timeout(300)
def test_the_sdk_orchestrator_and_task_tests_pass(tmp_path: Path) -> None:
    site = Path(df.__file__).resolve().parents[2]
    suite = site / "tests"
    assert (suite / "orchestrator" / "test_sequential_orchestrator.py").is_file(), "the wheel ships its tests"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            "/dev/null",
            "--rootdir",
            str(site),
            str(suite / "orchestrator"),
            str(suite / "tasks"),
            "--ignore",
            str(suite / "orchestrator" / "openai_agents"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=280,
    )
    tail = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-500:]
    assert run.returncode == 0, tail
    passed = re.search(r"(\d+) passed", tail)
    assert passed is not None and int(passed.group(1)) >= 100, tail
    assert "failed" not in tail and "error" not in tail, tail


@pytest.mark.timeout(300)
def test_the_sdk_suites_orchestrators_run_on_this_host(tmp_path: Path) -> None:
    """Every orchestrator of the SDK's tests, driven through this host's shim and episodes with
    answering activities, timers, sub-orchestrations, entities and events (sdk_suite_runner.py): none
    meets a non-determinism error or a host error; the failures are the orchestrators' own."""
    site = Path(df.__file__).resolve().parents[2]
    runner = Path(__file__).with_name("sdk_suite_runner.py")
    run = subprocess.run(
        [sys.executable, str(runner)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(rows) >= 45, run.stdout[-2000:]
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    assert len(completed) >= 35, rows
    for r in rows:
        message = r["message"] or ""
        assert r["status"] in ("COMPLETED", "FAILED", "TOO_LONG"), r
        assert "not deterministic" not in message, r
        if r["status"] == "FAILED":
            own = message.startswith("Orchestrator function 'orch' failed: ")
            assert own or "CallHttp (actionType 8)" in message, r
    # the one that never ends continues as new on every episode, by design
    assert [r["orchestrator"] for r in rows if r["status"] == "TOO_LONG"] == [
        "test_continue_as_new.generator_function"
    ]
